using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Objectives;

namespace InsideLLMs.Distributed.Tests.Training;

/// <summary>The run spec's objective fields, as the client, the API and the run grain check them.</summary>
public sealed class SftSpecTests
{
    [Theory]
    [InlineData("sft", null, null, null, "An sft run fine-tunes a published model: name the version its weights start from with initFrom")]
    [InlineData("rlhf", null, null, null, "Unknown objective 'rlhf'. Objectives: pretrain, sft, reward.")]
    [InlineData("pretrain", null, "pairs.jsonl", null, "instructions 'pairs.jsonl' are read only by sft runs")]
    [InlineData("sft", "no/such", null, null, "initFrom 'no/such' is not a version name")]
    [InlineData("sft", "base", " ", null, "instructions must be 'synthetic' or a JSON Lines file")]
    [InlineData("pretrain", null, null, 42L, "initRevision pins the revision of initFrom")]
    [InlineData("ppo-policy", null, null, null, "Objective 'ppo-policy' is a PPO run's update: start a PPO run (rlhf ppo start) instead.")]
    [InlineData("ppo-value", null, null, null, "Objective 'ppo-value' is a PPO run's update")]
    public void Validate_ABadObjectiveSetting_IsRefusedNamingIt(string objective, string? initFrom, string? instructions, long? revision, string message)
    {
        var spec = new TrainingRunSpec { Objective = objective, InitFrom = initFrom, Instructions = instructions, InitRevision = revision };

        var error = Assert.Throws<ArgumentException>(() => TrainingRunSpecs.Validate(spec));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AnSftSpecFromAVersion_PassesAndTrainsResponseOnly()
    {
        var spec = TrainingRunSpecs.Validate(new TrainingRunSpec { Objective = "SFT ", InitFrom = "base", Instructions = "synthetic" });

        Assert.Equal(ObjectiveKind.Sft, TrainingRunSpecs.Reference(spec).Objective);
        Assert.Equal("synthetic", TrainingRunSpecs.InstructionSource(spec with { Instructions = null }));
    }

    [Fact]
    public void Defaults_ArePretrainingFromTheSeed()
    {
        var spec = new TrainingRunSpec();

        Assert.Equal("pretrain", spec.Objective);
        Assert.Null(spec.InitFrom);
        Assert.Equal(ObjectiveKind.Pretrain, TrainingRunSpecs.Reference(spec).Objective);
        TrainingRunSpecs.Validate(spec with { InitFrom = "base" }); // pre-training may continue from a version
    }
}
