//! The Zendesk-compatible simulator.
