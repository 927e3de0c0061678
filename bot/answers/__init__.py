"""Composing replies from retrieved articles: extractive by default, optionally phrased by an LLM."""

from bot.answers.compose import Answer, AnswerSection, Composer

__all__ = ["Answer", "AnswerSection", "Composer"]
