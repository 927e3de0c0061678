"""Quality Month quizzes: the question bank, generated questions, attempts, records and reports."""
