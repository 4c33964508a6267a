//! The full-fidelity copy: a revision setting every field RegisterTaskDefinition accepts comes
//! back from a redeploy identical except for the swapped image.
