"""What the model reads: the instruction before each problem and the strategy tips."""

PACKAGES = ["numpy", "scipy", "sympy"]
PROMPT = (
    "Solve the math problem below. Do the calculations in Python instead of by hand (the standard "
    f"library, {', '.join(PACKAGES[:-1])} and {PACKAGES[-1]} are available). Give the final answer "
    "in \\boxed{}, for example \\boxed{\\frac{3}{4}}.\n\n"
)
TIPS = (
    "Work exactly where you can: sympy's Rational, sqrt, simplify, solve and nsimplify keep results "
    "exact where floats would round. Print intermediate values, and check the result before answering "
    "(substitute it back, or brute-force small cases). For a second opinion, llm_batch can ask a few "
    "fresh models to solve the problem independently or to look for a flaw in your reasoning; compare "
    "their answers with yours. The answer is only the final expression, e.g. \\boxed{2\\sqrt{2}}, not a sentence."
)
