//! The Zendesk Support API client.
