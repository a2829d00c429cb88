import hashlib

import factory
from django.contrib.auth import get_user_model

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "agents.Agent"

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Agent {n}")
    description = "Answers questions with code."
    tools = factory.LazyFunction(list)
    model = "openai:echo"
    allowed_imports = factory.LazyFunction(list)
    metadata = factory.LazyFunction(dict)
    state = "running"


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "agents.Conversation"

    agent = factory.SubFactory(AgentFactory)
    user = factory.SelfAttribute("agent.owner")
    title = "A conversation"


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "agents.Run"

    conversation = factory.SubFactory(ConversationFactory)
    agent = factory.SelfAttribute("conversation.agent")
    agent_name = factory.LazyAttribute(lambda o: o.agent.name if o.agent else "")
    user = factory.SelfAttribute("conversation.user")
    message = "What is 6 times 7?"
    status = "succeeded"
    output = "42"


# --- tools registry ---------------------------------------------------------------------


def tool_source(name: str, *, body: str = "return text.upper()", imports: str = "") -> str:
    """A valid @tool function source named `name`, taking one string."""
    return (
        f"{imports}from smolagents import tool\n\n\n@tool\ndef {name}(text: str) -> str:\n"
        f'    """Shout the text.\n\n    Args:\n        text: The text to shout.\n    """\n'
        f"    {body}\n"
    )


class ToolFactory(factory.django.DjangoModelFactory):
    """A registered tool with one version (built straight into the tables, as a fixture)."""

    class Meta:
        model = "tools_registry.Tool"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"tool_{n}")
    description = "Shout the text."
    inputs = factory.LazyFunction(
        lambda: {"text": {"type": "string", "description": "The text to shout."}}
    )
    output_type = "string"
    owner = factory.SubFactory(UserFactory)
    latest_version = 1
    version = factory.RelatedFactory(
        "tests.factories.ToolVersionFactory",
        factory_related_name="tool",
        created_by=factory.SelfAttribute("..owner"),
    )


class ToolVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tools_registry.ToolVersion"

    tool = factory.SubFactory(ToolFactory, version=None)
    version = 1
    code = factory.LazyAttribute(lambda o: tool_source(o.tool.name))
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.code.encode()).hexdigest())
    description = factory.LazyAttribute(lambda o: o.tool.description)
    inputs = factory.LazyAttribute(lambda o: o.tool.inputs)
    output_type = "string"
    imports = factory.LazyFunction(list)
    kind = "function"


# --- marketplace ------------------------------------------------------------------------


class ListingFactory(factory.django.DjangoModelFactory):
    """An active listing of an agent by its owner (straight into the table, as a fixture;
    tests of the listing rules go through marketplace.services.listing_create)."""

    class Meta:
        model = "marketplace.Listing"

    agent = factory.SubFactory(AgentFactory)
    agent_name = factory.SelfAttribute("agent.name")
    seller = factory.SelfAttribute("agent.owner")
    listing_type = "sale"
    price = factory.LazyFunction(lambda: __import__("decimal").Decimal("100.00"))
    rental_days = factory.LazyAttribute(lambda o: 7 if o.listing_type == "rent" else None)
    status = "active"


# --- gamification -----------------------------------------------------------------------


class AgentStatsFactory(factory.django.DjangoModelFactory):
    """A stats row with given counters, straight into the table (for rankings and pages);
    real counts go through gamification.services.record_run."""

    class Meta:
        model = "gamification.AgentStats"
        django_get_or_create = ("agent",)

    agent = factory.SubFactory(AgentFactory)


class RatingFactory(factory.django.DjangoModelFactory):
    """A rating row as a fixture; gamification.services.rating_save checks eligibility and
    recomputes the agent's average, this does neither."""

    class Meta:
        model = "gamification.Rating"

    agent = factory.SubFactory(AgentFactory)
    user = factory.SubFactory(UserFactory)
    stars = 4
    comment = "Does the job."
