//! The execution log (SPEC §6): JSONL writer, rotation, reading back.
