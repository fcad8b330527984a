using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// The RLHF pipeline (key: <see cref="RlhfPipelineNames.Default"/>): supervised fine-tuning from a published base model,
/// a reward model on the stored rankings, PPO, and the policy published as a version. Each stage starts when the event
/// that ends the one before it comes back over the bus (<see cref="SftCompleted"/>, <see cref="RankingBatchReady"/>,
/// <see cref="RewardModelTrained"/>, the last <see cref="PolicyUpdated"/>, <see cref="ModelPublished"/>): the bus's
/// consumers call the <c>On...</c> methods.
/// </summary>
public interface IRlhfPipelineGrain : IGrainWithStringKey
{
    /// <exception cref="ArgumentException">An unknown stage, a stage out of order, a bad number, or a base version that does not exist.</exception>
    /// <exception cref="InvalidOperationException">The pipeline is already running.</exception>
    [ResponseTimeout("00:02:00")]
    Task<RlhfPipelineStatus> StartAsync(RlhfPipelineSpec spec);

    Task<RlhfPipelineStatus> GetStatusAsync();

    Task<RlhfPipelineStatus> StopAsync();

    /// <summary>A ranking was stored: a pipeline waiting for rankings counts them.</summary>
    Task OnRankingStoredAsync();

    Task OnSftCompletedAsync(SftCompleted completed);

    Task OnRankingBatchReadyAsync(RankingBatchReady ready);

    Task OnRewardModelTrainedAsync(RewardModelTrained trained);

    Task OnPolicyUpdatedAsync(PolicyUpdated updated);

    Task OnModelPublishedAsync(ModelPublished published);
}

/// <summary>
/// What the pipeline runs: the <paramref name="Stages"/> named (in order, from sft, reward, ppo, publish; all when null),
/// from version <paramref name="BaseVersion"/>, into runs and a version of these names. The reward stage waits until
/// <paramref name="MinRankings"/> rankings are stored (0: trains on what there is; with <paramref name="Rankings"/>
/// "synthetic" on the built-in rankings).
/// </summary>
[GenerateSerializer, Immutable, Alias("RlhfPipelineSpec")]
public sealed record RlhfPipelineSpec(
    [property: Id(0)] IReadOnlyList<string>? Stages = null,
    [property: Id(1)] string BaseVersion = "base",
    [property: Id(2)] string SftRun = "sft",
    [property: Id(3)] string RewardRun = "reward",
    [property: Id(4)] string PpoRun = "ppo",
    [property: Id(5)] string Version = "assistant",
    [property: Id(6)] int SftSteps = 300,
    [property: Id(7)] int RewardSteps = 300,
    [property: Id(8)] string Rankings = "cluster",
    [property: Id(9)] int MinRankings = 0,
    [property: Id(10)] int PpoIterations = 100,
    [property: Id(11)] int PpoRollouts = 16);

/// <summary>The pipeline now: its phase, the stage running, each stage's state, and the events it has seen.</summary>
[GenerateSerializer, Immutable, Alias("RlhfPipelineStatus")]
public sealed record RlhfPipelineStatus(
    [property: Id(0)] string Phase,
    [property: Id(1)] RlhfPipelineSpec? Spec,
    [property: Id(2)] string? Stage,
    [property: Id(3)] IReadOnlyList<RlhfStageView> Stages,
    [property: Id(4)] IReadOnlyList<RlhfEventView> Events,
    [property: Id(5)] string? Error);

/// <summary>One stage: its name, state (pending, waiting, running, done, failed, skipped), the run or version it made, and a line of progress.</summary>
[GenerateSerializer, Immutable, Alias("RlhfStageView")]
public sealed record RlhfStageView(
    [property: Id(0)] string Name,
    [property: Id(1)] string State,
    [property: Id(2)] string? Target,
    [property: Id(3)] string Progress,
    [property: Id(4)] DateTimeOffset? StartedAt,
    [property: Id(5)] DateTimeOffset? EndedAt);

/// <summary>An event the pipeline published and received back: its name, what it said, when.</summary>
[GenerateSerializer, Immutable, Alias("RlhfEventView")]
public sealed record RlhfEventView([property: Id(0)] string Name, [property: Id(1)] string Detail, [property: Id(2)] DateTimeOffset At);

public static class RlhfPipelineNames
{
    public const string Default = "default";

    public const string Sft = "sft";
    public const string Reward = "reward";
    public const string Ppo = "ppo";
    public const string Publish = "publish";

    public static IReadOnlyList<string> Stages { get; } = [Sft, Reward, Ppo, Publish];
}

/// <summary>The SFT run completed and was published as a version.</summary>
[GenerateSerializer, Immutable, Alias("SftCompleted")]
public sealed record SftCompleted([property: Id(0)] string Pipeline, [property: Id(1)] string Run, [property: Id(2)] string Version, [property: Id(3)] long Step, [property: Id(4)] DateTimeOffset At);

/// <summary>Enough rankings are stored for the reward stage (or it trains on what there is).</summary>
[GenerateSerializer, Immutable, Alias("RankingBatchReady")]
public sealed record RankingBatchReady([property: Id(0)] string Pipeline, [property: Id(1)] int Rankings, [property: Id(2)] int Threshold, [property: Id(3)] DateTimeOffset At);

/// <summary>The reward run completed: its step and held-out agreement with the annotators.</summary>
[GenerateSerializer, Immutable, Alias("RewardModelTrained")]
public sealed record RewardModelTrained([property: Id(0)] string Pipeline, [property: Id(1)] string Run, [property: Id(2)] long Step, [property: Id(3)] double? AnnotatorAgreement, [property: Id(4)] DateTimeOffset At);

/// <summary>A PPO iteration completed (the last one ends the PPO stage).</summary>
[GenerateSerializer, Immutable, Alias("PolicyUpdated")]
public sealed record PolicyUpdated([property: Id(0)] string Pipeline, [property: Id(1)] string PpoRun, [property: Id(2)] int Iteration, [property: Id(3)] int Iterations, [property: Id(4)] double MeanScore, [property: Id(5)] double MeanKl, [property: Id(6)] DateTimeOffset At);

/// <summary>The PPO policy was published as a version.</summary>
[GenerateSerializer, Immutable, Alias("ModelPublished")]
public sealed record ModelPublished([property: Id(0)] string Pipeline, [property: Id(1)] string Version, [property: Id(2)] string PpoRun, [property: Id(3)] int Iteration, [property: Id(4)] DateTimeOffset At);
