"""OpenAI's Responses API (stateless subset) in front of any engine: POST /v1/responses."""
