//! Notifications (SPEC §7): email and webhooks.
