"""A minimal client for OpenAI-compatible chat-completions endpoints (vLLM, Ollama, DeepSeek …)."""

from __future__ import annotations

import httpx


class LLMError(Exception):
    """The endpoint failed, timed out or answered in an unexpected shape."""


class ChatClient:
    """Posts ``messages`` to ``{base_url}/chat/completions`` and returns the reply text."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 20.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                    transport=transport)

    def complete(self, system: str, user: str) -> str:
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
        try:
            response = self._client.post("/chat/completions", json=payload)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMError(type(exc).__name__) from exc
