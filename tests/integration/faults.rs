//! Error shapes the emulator cannot produce.
