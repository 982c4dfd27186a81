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
TIPS_CODE = """\
A skeleton of one way to solve it (check each printed value before going on):
```python
import re
lines = extra_data.splitlines()
print(len(lines)); print("\\n".join(lines[:4]))  # the first lines name the labels; one record per line follows
records = [line for line in lines if "||" in line]
labels = re.findall(r"'([^']+)'", lines[0])  # the label names, if the first line lists them in quotes
print(len(records), labels)
chunks = ["\\n".join(records[i:i + 25]) for i in range(0, len(records), 25)]
prompts = [f"Classify each line below as one of {labels}. Reply with one label per line, in order, "
           f"and nothing else.\\n\\n{chunk}" for chunk in chunks]
replies = llm_batch(prompts)  # all chunks at once, in parallel
from collections import Counter
counts = Counter(label for reply in replies for row in reply.splitlines() for label in labels if label in row)
print(counts, sum(counts.values()), len(records))
```
For questions about dates or users, count those fields of `records` with Counter directly (no llm_batch). \
Then set answer["content"] in exactly the form the question asks for, and answer["ready"] = True."""
