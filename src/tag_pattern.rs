//! A route's `tags` patterns: the shell's glob syntax, matched against a whole image tag.
//!
//! `?` is one character, `*` any run of them; `[abc]`, `[a-z]` and `[!a]` (or `[^a]`) are
//! classes (a `]` or `-` first in a class, and a `-` last, stand for themselves); `{a,b}` is
//! either (nested too; an empty alternative counts for nothing: `{a,}` is `{a}`); `\` takes
//! the next character as it is. This is `globset`'s syntax for text without `/`, which is what
//! ECR tags are (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`), matched here without a regex engine: a
//! pattern compiles to a small automaton run in one pass over the tag, so no pattern takes more
//! than linear time. A pattern with `/` or `**` (which only mean
//! something for paths) is refused, as are POSIX classes (`[[:alpha:]]`).

use std::fmt;

/// A compiled tag pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPattern {
    states: Vec<State>,
    start: usize,
}

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

/// One character test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Char(char),
    Any,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Test {
    fn accepts(&self, c: char) -> bool {
        match self {
            Test::Char(x) => *x == c,
            Test::Any => true,
            Test::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

/// A parsed piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    One(Test),
    Star,
    Either(Vec<Vec<Token>>),
}

/// An automaton state: consume one character that passes the test, or move on without one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Step(Test, usize),
    Split(Vec<usize>),
    Done,
}

impl TagPattern {
    /// Parses `pattern`, or says what is wrong with it.
    pub fn new(pattern: &str) -> Result<TagPattern, PatternError> {
        if pattern.chars().count() > MAX_LEN {
            return Err(PatternError(format!(
                "tag pattern {:.40}...: longer than {MAX_LEN} characters (a tag has at most 128)",
                pattern
            )));
        }
        let tokens = Parser::new(pattern).parse()?;
        let mut states = vec![State::Done];
        let start = compile(&mut states, &tokens, 0);
        Ok(TagPattern { states, start })
    }

    /// Whether the whole of `tag` matches.
    pub fn is_match(&self, tag: &str) -> bool {
        let mut now = vec![false; self.states.len()];
        self.enter(self.start, &mut now);
        for c in tag.chars() {
            let mut next = vec![false; self.states.len()];
            for (i, on) in now.iter().enumerate() {
                if let (true, State::Step(test, to)) = (on, &self.states[i]) {
                    if test.accepts(c) {
                        self.enter(*to, &mut next);
                    }
                }
            }
            if !next.contains(&true) {
                return false;
            }
            now = next;
        }
        now[0]
    }

    /// Marks `state` and every state it reaches without consuming a character.
    fn enter(&self, state: usize, set: &mut [bool]) {
        if set[state] {
            return;
        }
        set[state] = true;
        if let State::Split(to) = &self.states[state] {
            for &t in to {
                self.enter(t, set);
            }
        }
    }
}

/// Adds the states of `tokens` ahead of state `next`; returns the first.
fn compile(states: &mut Vec<State>, tokens: &[Token], next: usize) -> usize {
    let mut at = next;
    for token in tokens.iter().rev() {
        at = match token {
            Token::One(test) => push(states, State::Step(test.clone(), at)),
            Token::Star => {
                let split = push(states, State::Split(Vec::new()));
                let any = push(states, State::Step(Test::Any, split));
                states[split] = State::Split(vec![any, at]);
                split
            }
            Token::Either(branches) => {
                let starts = branches.iter().map(|b| compile(states, b, at)).collect();
                push(states, State::Split(starts))
            }
        };
    }
    at
}

fn push(states: &mut Vec<State>, state: State) -> usize {
    states.push(state);
    states.len() - 1
}

/// The longest pattern taken: it bounds the automaton, and the recursion that walks it.
const MAX_LEN: usize = 256;

/// Alternation deeper than this is refused (globset's bound).
const MAX_NESTING: usize = 100;

struct Parser<'a> {
    pattern: &'a str,
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// The branches being built: the outermost sequence first, then one per open `{` branch.
    branches: Vec<Vec<Token>>,
    /// For each open `{`, where its branches start in `branches`.
    open: Vec<usize>,
}

impl<'a> Parser<'a> {
    fn new(pattern: &'a str) -> Parser<'a> {
        Parser {
            pattern,
            chars: pattern.chars().peekable(),
            branches: vec![Vec::new()],
            open: Vec::new(),
        }
    }

    fn error(&self, what: &str) -> PatternError {
        PatternError(format!("tag pattern {:?}: {what}", self.pattern))
    }

    fn push(&mut self, token: Token) {
        self.branches.last_mut().expect("the outermost sequence").push(token);
    }

    fn parse(mut self) -> Result<Vec<Token>, PatternError> {
        while let Some(c) = self.chars.next() {
            match c {
                '?' => self.push(Token::One(Test::Any)),
                '*' if self.chars.peek() == Some(&'*') => {
                    return Err(self.error("`**` matches paths, and a tag has no `/`: use `*`"))
                }
                '*' => self.push(Token::Star),
                '/' => return Err(self.error("an image tag never contains `/`")),
                '[' => {
                    let class = self.class()?;
                    self.push(Token::One(class));
                }
                '{' => {
                    if self.open.len() >= MAX_NESTING {
                        return Err(self.error("alternatives nested too deep"));
                    }
                    self.open.push(self.branches.len());
                    self.branches.push(Vec::new());
                }
                '}' => {
                    let start = self
                        .open
                        .pop()
                        .ok_or_else(|| self.error("`}` without an opening `{`"))?;
                    // An empty alternative is no alternative (globset's default): `{a,}` is `{a}`,
                    // and `{}` nothing at all.
                    let branches: Vec<Vec<Token>> = self.branches.drain(start..).filter(|b| !b.is_empty()).collect();
                    if !branches.is_empty() {
                        self.push(Token::Either(branches));
                    }
                }
                ',' if !self.open.is_empty() => self.branches.push(Vec::new()),
                '\\' => {
                    let c = self
                        .chars
                        .next()
                        .ok_or_else(|| self.error("`\\` at the end escapes nothing"))?;
                    self.push(Token::One(Test::Char(c)));
                }
                c => self.push(Token::One(Test::Char(c))),
            }
        }
        if !self.open.is_empty() {
            return Err(self.error("`{` without a closing `}`"));
        }
        Ok(self.branches.pop().expect("the outermost sequence"))
    }

    /// A class after its `[`, as globset reads one.
    fn class(&mut self) -> Result<Test, PatternError> {
        let negated = matches!(self.chars.peek(), Some('!' | '^'));
        if negated {
            self.chars.next();
        }
        let mut ranges: Vec<(char, char)> = Vec::new();
        let (mut first, mut in_range) = (true, false);
        loop {
            let c = self
                .chars
                .next()
                .ok_or_else(|| self.error("`[` without a closing `]`"))?;
            match c {
                ']' if !first => break,
                '-' if !first && !in_range => in_range = true,
                '[' if self.chars.peek() == Some(&':') => {
                    return Err(self.error(
                        "POSIX classes such as `[:alpha:]` are not supported: list the characters, e.g. `[a-zA-Z]`",
                    ))
                }
                '/' => return Err(self.error("an image tag never contains `/`")),
                c if in_range => {
                    let last = ranges.last_mut().expect("a range follows a character");
                    last.1 = c;
                    if last.1 < last.0 {
                        return Err(self.error(&format!("invalid range {}-{}", last.0, last.1)));
                    }
                    in_range = false;
                }
                c => ranges.push((c, c)),
            }
            first = false;
        }
        if in_range {
            ranges.push(('-', '-'));
        }
        Ok(Test::Class { negated, ranges })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, tag: &str) -> bool {
        TagPattern::new(pattern).unwrap().is_match(tag)
    }

    #[test]
    fn the_shell_syntax_matches_whole_tags() {
        assert!(matches("v*", "v1.2.3") && matches("v*", "v") && !matches("v*", "dev-v1"));
        assert!(matches("release-?", "release-7") && !matches("release-?", "release-10"));
        assert!(matches("v[0-9].*", "v1.0") && !matches("v[0-9].*", "vx.0"));
        assert!(matches("[!d]*", "prod") && !matches("[!d]*", "dev") && !matches("[^d]*", "dev"));
        assert!(matches("{prod,stage}-*", "stage-3") && !matches("{prod,stage}-*", "dev-3"));
        assert!(matches("a{b,{c,d}e}", "ade") && !matches("a{b,{c,d}e}", "ad"));
        assert!(
            matches("a{,x}", "ax") && !matches("a{,x}", "a") && matches("a{}", "a"),
            "empty alternatives are none"
        );
        assert!(matches(r"v\*", "v*") && !matches(r"v\*", "v1"));
        assert!(matches("[]a]", "]") && matches("[-a]", "-") && matches("[a-]", "-") && matches("[a-c-e]", "d"));
        assert!(matches("", "") && !matches("", "x") && matches("*", ""));
        assert!(matches("*a*a*a*a*a*a*b", &"a".repeat(120).replace("aa", "ab")));
        assert!(
            !matches("*a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(128)),
            "linear, never backtracking"
        );
    }

    #[test]
    fn a_bad_pattern_says_what_is_wrong() {
        let problem = |p: &str| TagPattern::new(p).unwrap_err().to_string();
        assert_eq!(problem("v[0-9"), "tag pattern \"v[0-9\": `[` without a closing `]`");
        assert!(problem("[z-a]").ends_with("invalid range z-a"));
        assert!(problem("{a,b").ends_with("`{` without a closing `}`"));
        assert!(problem("a}").ends_with("`}` without an opening `{`"));
        assert!(problem("v\\").ends_with("escapes nothing"));
        assert!(problem("**").contains("use `*`"));
        assert!(problem("a/b").ends_with("never contains `/`"));
        assert!(problem("[[:alpha:]]").contains("[a-zA-Z]"));
        assert!(problem(&"{*}".repeat(100)).ends_with("longer than 256 characters (a tag has at most 128)"));
    }

    /// Against globset, the engine this replaces: every pattern of up to three characters of an
    /// alphabet holding all the syntax, and ten thousand longer ones drawn from it, on every tag
    /// of up to three characters: the same verdict on each pattern this module accepts.
    #[test]
    fn it_agrees_with_globset_on_every_pattern_it_accepts() {
        const PATTERN: &[char] = &['a', 'b', '-', '*', '?', '[', ']', '!', '^', '{', '}', ',', '\\'];
        const TAG: &[char] = &['a', 'b', '-', ']', '!', ','];
        let every = |alphabet: &[char], max: usize| {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = (last.iter())
                    .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        };
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut draw = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut patterns = every(PATTERN, 3);
        for _ in 0..10_000 {
            let len = 4 + draw(5);
            patterns.push((0..len).map(|_| PATTERN[draw(PATTERN.len())]).collect());
        }
        let tags = every(TAG, 3);
        let (mut compared, mut refused) = (0, 0);
        for pattern in &patterns {
            let theirs = globset::Glob::new(pattern).map(|g| g.compile_matcher());
            let Ok(ours) = TagPattern::new(pattern) else {
                refused += 1;
                continue;
            };
            let theirs = theirs.unwrap_or_else(|e| panic!("{pattern:?}: accepted here, globset refuses it: {e}"));
            for tag in &tags {
                assert_eq!(ours.is_match(tag), theirs.is_match(tag), "{pattern:?} on {tag:?}");
                compared += 1;
            }
        }
        assert!(
            compared > 900_000 && refused > 100,
            "{compared} compared, {refused} refused"
        );
    }
}
