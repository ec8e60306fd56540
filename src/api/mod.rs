//! The admin HTTP API (SPEC §8).
