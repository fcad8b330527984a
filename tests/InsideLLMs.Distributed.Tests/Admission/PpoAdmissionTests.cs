using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Rlhf;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Admission;

public sealed class PpoAdmissionTests
{
    private const int Vocabulary = 10;

    // T 8, C 4, H 2, V 10, no biases: a block is 12·C² + 2·C = 200 parameters; the whole model 2·200 + (10 + 8)·4 + 4 = 476.
    private static readonly TrainingRunSpec Source = new()
    {
        Layers = 2, Heads = 2, Width = 4, Context = 8, BatchSize = 3, Steps = 1, WarmupSteps = 0, CheckpointInterval = 0, EvalInterval = 0,
    };

    [Fact]
    public void Estimate_CountsTheUpdateStages_FourModels_AndTheRolloutVersion_AsByHand()
    {
        var spec = new PpoRunSpec("policy", "reward", Rollouts: 3, MiniBatches: 1);
        var (policy, value) = Engines(spec);

        var estimate = PpoAdmission.Estimate(policy, Vocabulary, value, Vocabulary, rollouts: 3);

        // A model grain: 24 MB overhead, weights and source weights 8·476 = 3,808, logits and log-softmax of 3 rows
        // 2·3·8·10·4 = 1,920, one block's activations 3·8·4·96 = 9,216. The rollout version: weights 4·476 = 1,904 and
        // each row's keys and values in both layers, 3·2·2·8·4·4 = 1,536.
        const long model = 24_000_000 + 3_808 + 1_920 + 9_216;
        const long rollout = 24_000_000 + 1_904 + 1_536;
        Assert.Equal([("policy model", model), ("reference model", model), ("value model", model), ("reward model", model), ("rollout version", rollout)], estimate.Models);
        // The update stages as any run's: 1 stage, 1 replica, the minibatch's 3 rows in one micro-batch.
        Assert.Equal(StageMemory.Estimate(TrainingRunSpecs.Model(Source, Vocabulary), 1, 3, 1, PipelineScheduleKind.OneFOneB), estimate.Policy.Stages);
        Assert.Equal(1, estimate.Policy.Replicas);
        Assert.Equal(estimate.Policy.TotalBytes, estimate.Value.TotalBytes);
        Assert.Equal(estimate.Policy.TotalBytes + estimate.Value.TotalBytes + (4 * model) + rollout, estimate.TotalBytes);
        Assert.Same(estimate, PpoAdmission.Admit(estimate, budgetPerSilo: 1_200_000_000, silos: 1));
    }

    [Fact]
    public void AMillionRolloutsInOneMinibatch_IsRefusedForThePolicysUpdateStage()
    {
        var spec = new PpoRunSpec("policy", "reward", Rollouts: 1_000_000, MiniBatches: 1);
        var (policy, value) = Engines(spec);

        var refused = Assert.Throws<ArgumentException>(() =>
            PpoAdmission.Admit(PpoAdmission.Estimate(policy, Vocabulary, value, Vocabulary, spec.Rollouts), 1_200_000_000, silos: 3));

        // 10^6 rows of 8 positions: two blocks' activations 2·96·10^6·8·4 = 6.14 GB, the lookups 0.26 GB, logits 0.96 GB.
        Assert.StartsWith("The PPO run would need about 7.4 GB for stage 0 of the policy's updates alone", refused.Message, StringComparison.Ordinal);
        Assert.Contains("activations 6.4 GB, logits 960 MB), but a silo's memory budget (Compute:MemoryBudget) is 1.2 GB: use fewer rollouts", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ManyRolloutsInSmallMinibatches_FitTheUpdates_ButNotOneModelsForward()
    {
        var spec = new PpoRunSpec("policy", "reward", Rollouts: 65_536, MiniBatches: 65_536);
        var (policy, value) = Engines(spec);
        var estimate = PpoAdmission.Estimate(policy, Vocabulary, value, Vocabulary, spec.Rollouts);

        var refused = Assert.Throws<ArgumentException>(() => PpoAdmission.Admit(estimate, 200_000_000, silos: 8));

        Assert.Equal(1, policy.BatchSize);
        Assert.StartsWith("The PPO run would need about 267 MB for its policy model alone", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PartsThatFitOneByOne_ButNotTheSilosTogether_AreRefused_AndMoreSilosAdmitThem()
    {
        var spec = new PpoRunSpec("policy", "reward", Rollouts: 3, MiniBatches: 1);
        var (policy, value) = Engines(spec);
        var estimate = PpoAdmission.Estimate(policy, Vocabulary, value, Vocabulary, spec.Rollouts);

        var refused = Assert.Throws<ArgumentException>(() => PpoAdmission.Admit(estimate, 30_000_000, silos: 2));

        Assert.StartsWith("The PPO run would need about 168 MB in all", refused.Message, StringComparison.Ordinal);
        Assert.Contains("but the cluster's 2 silo(s) have 60 MB of memory budget together", refused.Message, StringComparison.Ordinal);
        Assert.Same(estimate, PpoAdmission.Admit(estimate, 30_000_000, silos: 6));
    }

    private static (TrainingRunSpec Policy, TrainingRunSpec Value) Engines(PpoRunSpec spec) =>
        (PpoSpecs.EngineSpec(spec, PpoRole.Policy, Source), PpoSpecs.EngineSpec(spec, PpoRole.Value, Source with { Objective = TrainingRunSpecs.RewardObjective }));
}
