"""Anthropic's Messages API in front of any engine: POST /v1/messages, /v1/messages/count_tokens."""
