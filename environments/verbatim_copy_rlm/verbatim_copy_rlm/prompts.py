"""What the model reads: the copy instruction (ours and the article's layout), the article's system prompt, the tips."""

PROMPT = (
    "Copy the text between the <text> tags exactly: every character, space, line break and "
    "punctuation mark, in order. Your answer must be the text itself and nothing else (no tags, "
    "no quotes, no comments).\n\n<text>\n{text}\n</text>"
)
# The article's layout: one instruction line, a blank line, the text flush against its tags.
ARTICLE_PROMPT = (
    "Copy the text inside the <text> tags exactly, character for character, leaving out the "
    "tags themselves:\n\n<text>{text}</text>"
)
ARTICLE_SYSTEM_PROMPT = (
    "You copy text exactly, character for character: spelling, capital letters, punctuation, digits, "
    "spaces and line breaks all count. When you reply with the copy itself, put it inside \\boxed{}."
)
TIPS = (
    "The text is only in this prompt, not in any variable. Build the answer in pieces: write it into a "
    "Python string a few lines at a time (triple-quoted raw strings keep backslashes and quotes intact), "
    "then print len() and a few slices to check it against the prompt before setting ready. Do not add "
    "or drop the final line break; copy what is there."
)
