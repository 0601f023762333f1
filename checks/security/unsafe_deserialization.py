"""GAP807 unsafe-deserialization (a Semgrep taint rule: semgrep-rules/unsafe-deserialization.yaml)."""
from __future__ import annotations

from . import REQUEST_DATA_WORDS, ROUTE_WORDS
from ...analyzer.registry import Docs, Rule

RULE = Rule(
    id="GAP807",
    name="unsafe-deserialization",
    category="security",
    severity="error",
    precision="high",
    cwe="CWE-502",
    security_severity="9.8",
    semgrep=True,
    hints=("pickle", "yaml", "marshal", "dill", "shelve", "joblib", "torch", "allow_pickle"),
    requires=(REQUEST_DATA_WORDS + ROUTE_WORDS,),  # sources: request data, or a route's own parameters
    summary="Request data is deserialized with pickle or an unsafe YAML loader",
    docs=Docs(
        what=(
            "A taint rule: flags request data - Flask's `request.args/form/json/files/values/data/headers/cookies`,"
            " a Django/DRF/Starlette `request.GET/POST/FILES/body/data/query_params`, `await request.json()`, and the"
            " parameters of a Flask or FastAPI route (not `Depends(...)`, not `int`/`bool`/`UUID`) - that reaches"
            " `pickle.load(s)`, `dill`, `marshal.loads`, `jsonpickle.decode`, `shelve.open`, `pandas.read_pickle`,"
            " `joblib.load`, `torch.load`, `numpy.load(allow_pickle=True)`, `yaml.unsafe_load/full_load/load_all` or"
            " `yaml.load` without a SafeLoader, in the same function, through assignments, decoding and slicing."
        ),
        why=(
            "pickle and YAML's Python tags rebuild arbitrary objects, and building an object can call any"
            " function: a crafted upload or form field runs `os.system` on the server the moment it is loaded."
            " There is no safe way to unpickle data a client controls."
        ),
        example="job = pickle.loads(base64.b64decode(request.form[\"job\"]))",
        instead="job = JobSpec.model_validate_json(request.form[\"job\"])  # or json.loads / yaml.safe_load",
        not_caught=(
            "Data that reaches the loader through another function, a queue, a cache or the database (taint is"
            " followed within one function), pickles of the app's own data (caches, ML models on disk), and other"
            " unsafe formats (XML entities are a separate gap)."
        ),
        references=("https://docs.python.org/3/library/pickle.html",
                    "https://cwe.mitre.org/data/definitions/502.html"),
    ),
)
