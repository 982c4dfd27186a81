"""What the model reads besides the question: the answer-format line and the strategy tips."""

ANSWER_FORMAT = "Answer with the exact name, title or value the question asks for."
TIPS = (
    "Do not search from the root: plan first. Break the question into small sub-questions that can be checked "
    "on their own (what each clue points to, then the fact that is asked for). Send the independent ones to "
    "sub-LLMs together in one llm_batch call; each sub-LLM can search and open pages, so tell it exactly what "
    "to find and to reply briefly with its answer and the URL it came from. Keep the replies in variables, "
    "compare them, and send a follow-up batch for clues that are still open or where sources disagree. When "
    'the evidence agrees, put only the final answer (a name, title or value) in answer["content"] and set '
    'answer["ready"] = True.'
)
