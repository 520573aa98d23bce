"""The OpenAI Responses API: requests, stored responses, typed event streams."""
