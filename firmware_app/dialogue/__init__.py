"""Conversations: sessions, slot-filling flows and the hand-off policy."""
