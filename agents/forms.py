import json

from django import forms

from .validation import AgentConfig, config_errors, config_warnings

MODEL_HELP = (
    "A provider prefix, then the model: <code>openai:&lt;model&gt;</code>, "
    "<code>hf:&lt;org&gt;/&lt;repo&gt;</code> or <code>litellm:&lt;model&gt;</code>. Keys and "
    "server addresses are the platform's; the list below says which providers this server has."
)
INSTRUCTIONS_HELP = (
    "Added to the agent's system prompt on every turn: its role, tone, what to do and avoid. "
    "Optional."
)
MAX_INSTRUCTIONS = 8000


class AgentForm(forms.Form):
    """The agent editor. Validation is agents.validation's, the same as the API's."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Any registered name is accepted here so that a tool which became invalid gets the
    # registry's explanation from config_errors rather than "Select a valid choice".
    tools = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    instructions = forms.CharField(
        required=False,
        max_length=MAX_INSTRUCTIONS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=INSTRUCTIONS_HELP,
    )
    model = forms.CharField(
        max_length=200,
        help_text=MODEL_HELP,
        # The <datalist> of configured providers is in agents/agent_form.html.
        widget=forms.TextInput(attrs={"list": "model-providers", "autocomplete": "off"}),
    )
    allowed_imports = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Modules the agent's code may import, from the platform's allowlist.",
    )
    visibility = forms.ChoiceField(
        choices=[
            ("private", "Private: only you, your renters and collaborators see it"),
            ("public", "Public: every signed-in user can see and fork it (not chat with it)"),
        ],
        initial="private",
        required=False,  # left out (a script's form post): unchanged, or private when new
        widget=forms.RadioSelect,
        help_text="Only the owner changes this.",
    )
    metadata = forms.CharField(
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 5, "class": "code-input-small"}),
        help_text=(
            "Anything else to keep with the agent, as a JSON object (with the instructions, "
            "up to 16 KB). The platform does not read it."
        ),
    )

    def __init__(self, *args, tool_names: list[str], modules: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tools"].choices = [(name, name) for name in tool_names]
        self.fields["allowed_imports"].choices = [(m, m) for m in modules]

    def clean_visibility(self) -> str:
        return self.cleaned_data.get("visibility") or self.initial.get("visibility") or "private"

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
        if "instructions" in value:
            # One place for the system prompt, or the two would silently overwrite each other.
            raise forms.ValidationError(
                "Put the instructions in the Instructions field, not in the metadata."
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
        metadata = dict(data.get("metadata") or {})
        # The runtime reads metadata["instructions"] (agents/runtime/turn.py).
        instructions = (data.get("instructions") or "").strip()
        if instructions:
            metadata["instructions"] = instructions
        return AgentConfig(
            name=data.get("name", ""),
            description=data.get("description", ""),
            tools=list(data.get("tools") or []),
            model=data.get("model", ""),
            allowed_imports=list(data.get("allowed_imports") or []),
            metadata=metadata,
        )

    def warnings(self) -> dict[str, list[str]]:
        """What is valid but cannot run on this server now (agents.validation): for the
        submitted model, or before a submit for the agent's current one."""
        if not self.is_bound:
            return config_warnings(AgentConfig(name="", model=self.initial.get("model") or ""))
        if not hasattr(self, "cleaned_data") or not self.cleaned_data.get("model"):
            return {}
        return config_warnings(self.config())

    @classmethod
    def initial_for(cls, agent) -> dict:
        initial = vars(AgentConfig.from_agent(agent))
        metadata = dict(agent.metadata)
        instructions = metadata.pop("instructions", "")
        return {
            **initial,
            "instructions": instructions if isinstance(instructions, str) else "",
            "metadata": json.dumps(metadata, indent=2),
            "visibility": agent.visibility,
        }


class ChatForm(forms.Form):
    message = forms.CharField(
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask the agent something…"}),
    )
    conversation = forms.IntegerField(required=False, widget=forms.HiddenInput)
