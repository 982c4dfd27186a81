"""What the model reads besides the question: the answer format of real rows and the strategy tips."""

REAL_INSTRUCTION = "Return the final answer in \\boxed{}."
TIPS = (
    "extra_data is far too long to read at once, so never print it whole. Look at its first lines to "
    "learn the format, then split it into lines or chunks. If the records carry labels, count them "
    "directly in Python. If they do not, classify the records with llm_batch: put a few dozen records "
    "in each prompt, ask for exactly one label per record, send all prompts in one llm_batch call, and "
    "parse the replies. Aggregate with Python (collections.Counter), check the counts add up, and answer "
    "in exactly the form the question asks for."
)
# The same strategy as code, for small models (harness protocol.tips_as_code); synth subsets only.
# One skeleton per answer type: a user or date question counts a field every record shows, so it
# needs no llm_batch; the label questions classify the texts with it.
# No comments and no backslashes in the code: the 1.5B sends it back as one JSON line, where a
# `#` swallows the rest of the line and every backslash has to be escaped twice.
_SEND = (
    "A skeleton of one way to solve it. Send it as a ```python block, one statement per line, and check "
    "what each print shows before going on:\n"
)
_LABEL_CODE = """\
```python
from collections import Counter
lines = extra_data.splitlines()
print(len(lines), lines[0])
labels = lines[0].split("categories: ")[1].strip(".").replace("'", "").split(", ")
records = [line for line in lines if line.startswith("Date:")]
texts = [line.split(" || Instance: ")[1] for line in records]
print(len(texts), labels)
chunks = [texts[i:i + 25] for i in range(0, len(texts), 25)]
prompts = [f"Label each text as one of {labels}, one label per line, in order, nothing else: {c}" for c in chunks]
replies = llm_batch(prompts)
rows = [row for c, reply in zip(chunks, replies) for row in reply.splitlines()[:len(c)]]
found = [next((label for label in labels if label in row), None) for row in rows]
counts = Counter(label for label in found if label)
print(counts.most_common(), len(rows), len(texts))
```
Run llm_batch once, then answer from the counts you have in the next turn (they need not be perfect), \
in exactly the form the question asks for: """
_LABEL_ANSWERS = {
    "LABEL": '`answer["content"] = f"Label: {counts.most_common(1)[0][0]}"` for the most common label, '
    "`min(labels, key=lambda label: counts[label])` is the least common one",
    "NUMERIC": '`answer["content"] = f"Answer: {counts[\'the label\']}"`',
    "COMPARISON": '`answer["content"] = f"Answer: {a} is more common than {b}"` when `counts[a] > counts[b]`',
}
_FIELD_CODE = """\
```python
from collections import Counter
records = [line for line in extra_data.splitlines() if line.startswith("Date:")]
print(len(records), records[0])
counts = Counter(line.split(" || ")[{index}] for line in records)
print(counts.most_common(3))
```
The {field} is the {position} field of every record, so count them directly, with no llm_batch. Then answer \
in the next turn, in exactly the form the question asks for: {answer}, and `answer["ready"] = True`."""
# No example values: the 1.5B sent the example user ID back as its answer.
_FIELDS = {
    "USER": ("user", "second", 1, '`answer["content"] = counts.most_common(1)[0][0]`'),
    "DATE": (
        "date",
        "first",
        0,
        "`top = counts.most_common(1)[0][0]` and "
        '`answer["content"] = "Date: " + datetime.strptime(top, "Date: %b %d, %Y").strftime("%m/%d/%Y")` '
        "(after `from datetime import datetime`)",
    ),
}


_OTHER_ANSWER = 'set `answer["content"]` from them'
_FIELD_QUESTION = "is represented most often?"
"""How a synth question asks for the most frequent user or date over all records (no label involved)."""


def tips_code(answer_type: str, question: str) -> str:
    """The code skeleton for a synth question of `answer_type` (e.g. "ANSWER_TYPE.USER")."""
    kind = answer_type.removeprefix("ANSWER_TYPE.")
    if kind in _FIELDS and _FIELD_QUESTION in question:
        field, position, index, answer = _FIELDS[kind]
        return _SEND + _FIELD_CODE.format(field=field, position=position, index=index, answer=answer)
    # Any other question (a user or date asked about one label, a month, ...) needs the labels.
    return _SEND + _LABEL_CODE + _LABEL_ANSWERS.get(kind, _OTHER_ANSWER) + ', and `answer["ready"] = True`.'
