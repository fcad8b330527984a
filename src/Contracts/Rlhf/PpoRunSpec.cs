using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// A PPO run on the cluster: the policy starts from run <paramref name="PolicyRun"/>'s weights (an SFT or pre-training
/// run; the frozen reference keeps them), the value model from reward run <paramref name="RewardRun"/>'s, whose model
/// also scores the completions. The rest are PPO's hyper-parameters (defaults as the benchmark measured them), how
/// often the policy and value model are checkpointed (in iterations), and how their updates run on the stage grains:
/// <paramref name="Stages"/> pipeline stages × <paramref name="Replicas"/> data-parallel replicas, each minibatch cut into
/// <paramref name="MicroBatches"/> micro-batches per replica (a minibatch's rows must divide by Replicas × MicroBatches).
/// </summary>
[GenerateSerializer, Immutable, Alias("PpoRunSpec")]
public sealed record PpoRunSpec(
    [property: Id(0)] string PolicyRun,
    [property: Id(1)] string RewardRun,
    [property: Id(2)] int Iterations = 100,
    [property: Id(3)] int Rollouts = 16,
    [property: Id(4)] int Epochs = 4,
    [property: Id(5)] int MiniBatches = 2,
    [property: Id(6)] double PolicyLearningRate = 2e-5,
    [property: Id(7)] double ValueLearningRate = 1e-4,
    [property: Id(8)] double KlCoefficient = 0.1,
    [property: Id(9)] double? KlTarget = null,
    [property: Id(10)] double KlHorizon = 10_000,
    [property: Id(11)] int MaxCompletionTokens = 24,
    [property: Id(12)] long Seed = 8,
    [property: Id(13)] int CheckpointInterval = 5,
    [property: Id(14)] int Threads = 1,
    [property: Id(15)] int Stages = 1,
    [property: Id(16)] int Replicas = 1,
    [property: Id(17)] int MicroBatches = 1);

/// <summary>
/// A PPO run as it stands: phase, iterations done, β for the next, the last checkpoint, the reward model's
/// normalisation, every iteration's metrics, the last iteration's sample completions, where each model lives, and the
/// failures it recovered from.
/// </summary>
[GenerateSerializer, Immutable, Alias("PpoRunStatus")]
public sealed record PpoRunStatus(
    [property: Id(0)] string RunId,
    [property: Id(1)] RunPhase Phase,
    [property: Id(2)] PpoRunSpec? Spec,
    [property: Id(3)] int Iteration,
    [property: Id(4)] double KlCoefficient,
    [property: Id(5)] int LastCheckpointIteration,
    [property: Id(6)] double NormalizationMean,
    [property: Id(7)] double NormalizationStd,
    [property: Id(8)] IReadOnlyList<PpoIterationView> History,
    [property: Id(9)] IReadOnlyList<PpoSampleView> Samples,
    [property: Id(10)] IReadOnlyList<PpoModelPlacement> Models,
    [property: Id(11)] IReadOnlyList<RecoveryRecord> Recoveries,
    [property: Id(12)] string? Error)
{
    /// <summary>Where the policy's and the value model's training stages run (role "policy" or "value", stage grain, silo).</summary>
    [Id(13)] public IReadOnlyList<PpoModelPlacement> TrainingStages { get; init; } = [];
}

/// <summary>
/// One iteration: the reward model's mean normalised score, the score PPO rewarded (clipped, less the missing-end
/// penalty), the preference rule's mean score, the mean KL to the reference per completion, β for the next iteration, the
/// mean reward (score − β KL), the update's policy loss, value loss, approximate KL, clip fraction and entropy, the value
/// model's explained variance, the share of completions that ended, their mean length, and seconds spent sampling,
/// scoring, in the reference, in the value model, updating, and in all.
/// </summary>
[GenerateSerializer, Immutable, Alias("PpoIterationView")]
public sealed record PpoIterationView(
    [property: Id(0)] int Iteration,
    [property: Id(1)] double MeanScore,
    [property: Id(2)] double MeanRewardedScore,
    [property: Id(3)] double MeanRuleScore,
    [property: Id(4)] double MeanKl,
    [property: Id(5)] double KlCoefficient,
    [property: Id(6)] double MeanReward,
    [property: Id(7)] double PolicyLoss,
    [property: Id(8)] double ValueLoss,
    [property: Id(9)] double ApproximateKl,
    [property: Id(10)] double ClipFraction,
    [property: Id(11)] double Entropy,
    [property: Id(12)] double ExplainedVariance,
    [property: Id(13)] double EndedShare,
    [property: Id(14)] double MeanTokens,
    [property: Id(15)] double GenerationSeconds,
    [property: Id(16)] double RewardSeconds,
    [property: Id(17)] double ReferenceSeconds,
    [property: Id(18)] double ValueSeconds,
    [property: Id(19)] double UpdateSeconds,
    [property: Id(20)] double WallSeconds);

/// <summary>A sampled completion of an iteration: prompt, text, whether it ended, the reward model's normalised score, the rule's score, its KL to the reference.</summary>
[GenerateSerializer, Immutable, Alias("PpoSampleView")]
public sealed record PpoSampleView(
    [property: Id(0)] int Iteration,
    [property: Id(1)] string Prompt,
    [property: Id(2)] string Completion,
    [property: Id(3)] bool Ended,
    [property: Id(4)] double Score,
    [property: Id(5)] double RuleScore,
    [property: Id(6)] double Kl);

/// <summary>Which silo holds one of the run's models (policy, value, reference, reward).</summary>
[GenerateSerializer, Immutable, Alias("PpoModelPlacement")]
public sealed record PpoModelPlacement([property: Id(0)] string Role, [property: Id(1)] string Grain, [property: Id(2)] string Silo);

/// <summary>The roles of a PPO run's model grains, and their keys.</summary>
public static class PpoNames
{
    /// <summary>The registry (a <see cref="ITrainingRegistryGrain"/>) of active PPO runs, which every silo's supervisor wakes.</summary>
    public const string RegistryKey = "ppo-runs";

    public static IReadOnlyList<PpoRole> Roles { get; } = [PpoRole.Policy, PpoRole.Value, PpoRole.Reference, PpoRole.Reward];

    /// <summary>
    /// The place a PPO run holds among the training runs (in the registry <see cref="TrainingStorage.RegistryKey"/>),
    /// "ppo:{run}", so that <c>Training:MaxActiveRuns</c> and the memory budget count it as they count training runs. A
    /// run id has no ':', so no training run has such a name.
    /// </summary>
    public static string AdmissionPlace(string run) => $"ppo:{run}";

    /// <summary>Whether a registry entry is a PPO run's place (<see cref="AdmissionPlace"/>) rather than a training run.</summary>
    public static bool IsAdmissionPlace(string entry) => entry.StartsWith("ppo:", StringComparison.Ordinal);

    /// <summary>
    /// A model grain's key, "ppo/{run}/0/{role}-of-4": the stage placement numbers the four models 0 to 3 and puts them
    /// on different silos when there are enough.
    /// </summary>
    public static string ModelKey(string run, PpoRole role) => $"ppo/{run}/0/{(int)role}-of-{Roles.Count}";

    /// <summary>The run id of the policy's or the value model's stage grains and data shards, "ppo/{run}/policy" or "ppo/{run}/value".</summary>
    public static string EngineRun(string run, PpoRole role) => role is PpoRole.Policy or PpoRole.Value
        ? $"ppo/{run}/{role.ToString().ToLowerInvariant()}"
        : throw new ArgumentException($"Only the policy and the value model train; not the {role.ToString().ToLowerInvariant()}.");
}

/// <summary>A PPO run's four models, each a grain of its own.</summary>
[GenerateSerializer, Alias("PpoRole")]
public enum PpoRole
{
    /// <summary>Samples completions and trains: starts from the policy run's weights.</summary>
    Policy = 0,

    /// <summary>Values every position and trains: starts from the reward run's weights.</summary>
    Value = 1,

    /// <summary>Frozen: the policy run's weights, for the KL penalty.</summary>
    Reference = 2,

    /// <summary>Frozen: the reward run's weights, scoring completions.</summary>
    Reward = 3,
}
