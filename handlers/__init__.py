"""Conversation logic. Knows no channel: takes an Incoming event, returns Replies."""
