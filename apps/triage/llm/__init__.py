"""The language-model classifier of triage (docs/triage-llm.md): versioned prompts
(`prompts`), the answer's schema (`schema`), one adapter per provider SDK (`providers`)
and the classifier itself (`classifier`), registered in `TriageConfig.ready()`."""
