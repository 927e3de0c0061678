"""Quizzes for continuing education: the bank, generated questions, draws, campaigns, profiles, attempts,
exports, certificates, item analysis and charts — apart from any transport."""
