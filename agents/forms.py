import json

from django import forms

from .validation import AgentConfig, config_errors

MODEL_HELP = (
    "Where the agent's thinking comes from. <code>hf:&lt;repo&gt;</code> (Hugging Face "
    "Inference, e.g. <code>hf:Qwen/Qwen2.5-Coder-32B-Instruct</code>), "
    "<code>openai:&lt;model&gt;</code> (the platform's OpenAI-compatible server, e.g. "
    "<code>openai:gpt-4o-mini</code> or a local <code>openai:llama3.1</code>) or "
    "<code>litellm:&lt;model&gt;</code>. Keys and server addresses are set by the platform."
)


class AgentForm(forms.Form):
    """The agent editor. Validation is agents.validation's, the same as the API's."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Any registered name is accepted here so that a tool which became invalid gets the
    # registry's explanation from config_errors rather than "Select a valid choice".
    tools = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    model = forms.CharField(max_length=200, help_text=MODEL_HELP)
    allowed_imports = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Modules the agent's code may import, from the platform's allowlist.",
    )
    metadata = forms.CharField(
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 5, "class": "code-input-small"}),
        help_text=(
            'A JSON object, up to 16 KB. <code>"instructions"</code> (text) is added to '
            "the agent's system prompt."
        ),
    )

    def __init__(self, *args, tool_names: list[str], modules: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tools"].choices = [(name, name) for name in tool_names]
        self.fields["allowed_imports"].choices = [(m, m) for m in modules]

    def clean_metadata(self) -> dict:
        raw = (self.cleaned_data.get("metadata") or "").strip() or "{}"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
            ) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(
                'Metadata must be a JSON object, e.g. {"team": "research"}.'
            )
        return value

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        config = self.config()
        for field, messages in config_errors(config).items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        return data

    def config(self) -> AgentConfig:
        data = self.cleaned_data
        return AgentConfig(
            name=data.get("name", ""),
            description=data.get("description", ""),
            tools=list(data.get("tools") or []),
            model=data.get("model", ""),
            allowed_imports=list(data.get("allowed_imports") or []),
            metadata=data.get("metadata") or {},
        )

    @classmethod
    def initial_for(cls, agent) -> dict:
        initial = vars(AgentConfig.from_agent(agent))
        return {**initial, "metadata": json.dumps(agent.metadata, indent=2)}


class ChatForm(forms.Form):
    message = forms.CharField(
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask the agent something…"}),
    )
    conversation = forms.IntegerField(required=False, widget=forms.HiddenInput)
