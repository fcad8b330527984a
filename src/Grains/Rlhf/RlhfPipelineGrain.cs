using System.Globalization;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using Microsoft.Extensions.Logging;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// The RLHF pipeline as a state machine driven by events. The grain starts a stage, watches its run every 2 s, and when
/// the run is done publishes the stage's event on the bus; the next stage starts only when that event comes back through
/// a bus consumer (<c>On...</c>). A ranking-gated reward stage waits for <see cref="RankingBatchReady"/>, which the grain
/// publishes once enough <c>RankingSubmitted</c> events have been counted against the stored rankings. Events carry the
/// pipeline's generation, so a late event of an earlier start changes nothing.
/// </summary>
public sealed class RlhfPipelineGrain(
    [PersistentState("pipeline", TrainingStorage.ProviderName)] IPersistentState<RlhfPipelineState> state,
    IRlhfEventPublisher events,
    ILogger<RlhfPipelineGrain> logger) : Grain, IRlhfPipelineGrain
{
    private const int EventsKept = 50;
    private const string Running = "running";

    private IGrainTimer? _watch;

    private string Generation => $"{this.GetPrimaryKeyString()}#{state.State.Generation}";

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Phase == Running)
        {
            Watch();
        }

        return base.OnActivateAsync(cancellationToken);
    }

    public async Task<RlhfPipelineStatus> StartAsync(RlhfPipelineSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (state.State.Phase == Running)
        {
            throw new InvalidOperationException($"The RLHF pipeline is already running (stage {state.State.Stage}); stop it first.");
        }

        var stages = Check(spec);
        if (stages[0] == RlhfPipelineNames.Sft)
        {
            await GrainFactory.GetGrain<IModelVersionGrain>(spec.BaseVersion).GetInfoAsync(); // refuses an unknown base version
        }

        state.State = new RlhfPipelineState
        {
            Generation = state.State.Generation + 1, Phase = Running, Spec = spec,
            Stages = [.. RlhfPipelineNames.Stages.Select(s => new StageRecord { Name = s, State = stages.Contains(s) ? "pending" : "skipped" })],
        };
        await BeginAsync(stages[0]);
        Watch();
        return Status();
    }

    public Task<RlhfPipelineStatus> GetStatusAsync() => Task.FromResult(Status());

    public async Task<RlhfPipelineStatus> StopAsync()
    {
        if (state.State.Phase == Running)
        {
            state.State.Phase = "stopped";
            _watch?.Dispose();
            await state.WriteStateAsync();
        }

        return Status();
    }

    public async Task OnRankingStoredAsync()
    {
        if (state.State.Phase != Running || Current()?.Name != RlhfPipelineNames.Reward || Current()?.State != "waiting")
        {
            return;
        }

        var stored = (await GrainFactory.GetGrain<IRankingBoardGrain>(RankingNames.Board).GetSummaryAsync()).Rankings;
        var stage = Current()!;
        stage.Progress = $"{stored} of {state.State.Spec!.MinRankings} rankings stored";
        if (stored >= state.State.Spec.MinRankings && !stage.Announced)
        {
            stage.Announced = true;
            await PublishAsync(new RankingBatchReady(Generation, (int)Math.Min(stored, int.MaxValue), state.State.Spec.MinRankings, DateTimeOffset.UtcNow), $"{stored} rankings stored");
        }

        await state.WriteStateAsync();
    }

    public Task OnSftCompletedAsync(SftCompleted completed) =>
        ReceiveAsync(completed.Pipeline, RlhfPipelineNames.Sft, nameof(SftCompleted), $"run {completed.Run} at step {completed.Step}, version {completed.Version}");

    public async Task OnRankingBatchReadyAsync(RankingBatchReady ready)
    {
        if (ready.Pipeline != Generation || Current() is not { Name: RlhfPipelineNames.Reward, State: "waiting" })
        {
            return;
        }

        Record(nameof(RankingBatchReady), $"{ready.Rankings} rankings (threshold {ready.Threshold})");
        await StartRewardRunAsync();
    }

    public Task OnRewardModelTrainedAsync(RewardModelTrained trained) =>
        ReceiveAsync(trained.Pipeline, RlhfPipelineNames.Reward, nameof(RewardModelTrained),
            $"run {trained.Run} at step {trained.Step}, held-out agreement with the annotators {(trained.AnnotatorAgreement is { } a ? a.ToString("0.000", CultureInfo.InvariantCulture) : "-")}");

    public async Task OnPolicyUpdatedAsync(PolicyUpdated updated)
    {
        if (updated.Pipeline != Generation || Current()?.Name != RlhfPipelineNames.Ppo)
        {
            return;
        }

        Current()!.Progress = string.Create(CultureInfo.InvariantCulture, $"iteration {updated.Iteration} of {updated.Iterations}: score {updated.MeanScore:+0.000;-0.000}, KL {updated.MeanKl:0.00}");
        if (updated.Iteration < updated.Iterations)
        {
            await state.WriteStateAsync();
            return;
        }

        await ReceiveAsync(updated.Pipeline, RlhfPipelineNames.Ppo, nameof(PolicyUpdated), $"PPO run {updated.PpoRun} completed {updated.Iterations} iterations");
    }

    public Task OnModelPublishedAsync(ModelPublished published) =>
        ReceiveAsync(published.Pipeline, RlhfPipelineNames.Publish, nameof(ModelPublished), $"version {published.Version} from PPO run {published.PpoRun} at iteration {published.Iteration}");

    /// <summary>The event that ends <paramref name="stage"/> came back: the stage is done and the next one starts.</summary>
    private async Task ReceiveAsync(string pipeline, string stage, string name, string detail)
    {
        if (pipeline != Generation || state.State.Phase != Running || Current()?.Name != stage)
        {
            return; // an earlier start's event, or one seen already
        }

        Record(name, detail);
        var current = Current()!;
        (current.State, current.EndedAt) = ("done", DateTimeOffset.UtcNow);
        var next = state.State.Stages.FirstOrDefault(s => s.State == "pending");
        if (next is null)
        {
            state.State.Phase = "completed";
            state.State.Stage = null;
            _watch?.Dispose();
            await state.WriteStateAsync();
            return;
        }

        await BeginAsync(next.Name);
    }

    private async Task BeginAsync(string name)
    {
        var spec = state.State.Spec!;
        var stage = state.State.Stages.Single(s => s.Name == name);
        state.State.Stage = name;
        (stage.StartedAt, stage.State) = (DateTimeOffset.UtcNow, Running);
        try
        {
            switch (name)
            {
                case RlhfPipelineNames.Sft:
                    var baseSpec = (await GrainFactory.GetGrain<IModelVersionGrain>(spec.BaseVersion).GetInfoAsync()).Spec;
                    stage.Target = spec.SftRun;
                    await GrainFactory.GetGrain<ITrainingRunGrain>(spec.SftRun).StartAsync(baseSpec with
                    {
                        Objective = "sft", InitFrom = spec.BaseVersion, InitRevision = null, Rankings = null, ResumeFrom = null, ResumeStep = null,
                        Steps = spec.SftSteps, LearningRate = 1e-3, MinLearningRate = 1e-4, WarmupSteps = Math.Min(20, spec.SftSteps / 10),
                        CheckpointInterval = Math.Max(1, spec.SftSteps / 5), EvalInterval = 0,
                    });
                    break;
                case RlhfPipelineNames.Reward:
                    stage.Target = spec.RewardRun;
                    if (spec.MinRankings > 0)
                    {
                        stage.State = "waiting";
                        stage.Progress = $"waiting for {spec.MinRankings} stored rankings";
                        await state.WriteStateAsync();
                        await OnRankingStoredAsync(); // they may be there already
                        return;
                    }

                    stage.State = "waiting";
                    stage.Announced = true;
                    await PublishAsync(new RankingBatchReady(Generation, 0, 0, DateTimeOffset.UtcNow), "no threshold: the reward model trains on what there is");
                    break;
                case RlhfPipelineNames.Ppo:
                    stage.Target = spec.PpoRun;
                    await GrainFactory.GetGrain<IPpoRunGrain>(spec.PpoRun).StartAsync(new PpoRunSpec(spec.SftRun, spec.RewardRun, spec.PpoIterations, spec.PpoRollouts));
                    break;
                case RlhfPipelineNames.Publish:
                    stage.Target = spec.Version;
                    var info = await GrainFactory.GetGrain<IModelVersionGrain>(spec.Version).PublishPolicyAsync(spec.PpoRun);
                    stage.Progress = $"version {info.Name} from {info.RunId} at iteration {info.Step}";
                    await PublishAsync(new ModelPublished(Generation, spec.Version, spec.PpoRun, (int)info.Step, DateTimeOffset.UtcNow), stage.Progress);
                    break;
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Fail(stage, e.Message);
        }

        await state.WriteStateAsync();
    }

    private async Task StartRewardRunAsync()
    {
        var spec = state.State.Spec!;
        var stage = Current()!;
        try
        {
            var sftSpec = (await GrainFactory.GetGrain<IModelVersionGrain>(spec.SftRun).GetInfoAsync()).Spec;
            await GrainFactory.GetGrain<ITrainingRunGrain>(spec.RewardRun).StartAsync(sftSpec with
            {
                Objective = "reward", InitFrom = spec.SftRun, InitRevision = null, Instructions = null, Rankings = spec.Rankings, RankingCompletions = 4,
                ResumeFrom = null, ResumeStep = null, BatchSize = 8, MicroBatches = 1, Steps = spec.RewardSteps, LearningRate = 3e-4, MinLearningRate = 3e-5,
                WarmupSteps = Math.Min(20, spec.RewardSteps / 10), CheckpointInterval = Math.Max(1, spec.RewardSteps / 5), EvalInterval = 0,
            });
            (stage.State, stage.Announced) = (Running, false);
            stage.Progress = "training";
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Fail(stage, e.Message);
        }

        await state.WriteStateAsync();
    }

    private void Watch()
    {
        _watch?.Dispose();
        _watch = this.RegisterGrainTimer(WatchAsync, new GrainTimerCreationOptions(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2)) { KeepAlive = true });
    }

    /// <summary>Every 2 s: how the running stage's run is doing; when it is done, its event goes on the bus (once).</summary>
    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        if (state.State.Phase != Running || Current() is not { State: Running } stage || stage.Announced)
        {
            return;
        }

        var spec = state.State.Spec!;
        try
        {
            switch (stage.Name)
            {
                case RlhfPipelineNames.Sft:
                case RlhfPipelineNames.Reward:
                    var run = await GrainFactory.GetGrain<ITrainingRunGrain>(stage.Target!).GetStatusAsync();
                    stage.Progress = $"step {run.Step} of {run.TotalSteps}, {run.Phase.ToString().ToLowerInvariant()}";
                    if (run.Phase is RunPhase.Failed or RunPhase.Stopped)
                    {
                        Fail(stage, $"run {stage.Target} {run.Phase.ToString().ToLowerInvariant()}: {run.Error}");
                    }
                    else if (run.Phase == RunPhase.Completed && stage.Name == RlhfPipelineNames.Sft)
                    {
                        await GrainFactory.GetGrain<IModelVersionGrain>(spec.SftRun).PublishAsync(spec.SftRun);
                        stage.Announced = true;
                        await PublishAsync(new SftCompleted(Generation, spec.SftRun, spec.SftRun, run.Step, DateTimeOffset.UtcNow), $"run {spec.SftRun} completed");
                    }
                    else if (run.Phase == RunPhase.Completed)
                    {
                        var reward = await GrainFactory.GetGrain<IRewardModelGrain>(spec.RewardRun).GetInfoAsync();
                        stage.Announced = true;
                        await PublishAsync(new RewardModelTrained(Generation, spec.RewardRun, run.Step, reward.AnnotatorAgreement, DateTimeOffset.UtcNow), $"run {spec.RewardRun} completed");
                    }

                    break;
                case RlhfPipelineNames.Ppo:
                    var ppo = await GrainFactory.GetGrain<IPpoRunGrain>(spec.PpoRun).GetStatusAsync();
                    if (ppo.Phase is RunPhase.Failed or RunPhase.Stopped)
                    {
                        Fail(stage, $"PPO run {spec.PpoRun} {ppo.Phase.ToString().ToLowerInvariant()}: {ppo.Error}");
                        break;
                    }

                    foreach (var iteration in ppo.History.Where(h => h.Iteration > stage.Reported))
                    {
                        var last = ppo.Phase == RunPhase.Completed && iteration.Iteration == ppo.History[^1].Iteration;
                        if (iteration.Iteration == spec.PpoIterations && !last)
                        {
                            break; // the last iteration is announced once the run has completed
                        }

                        stage.Reported = iteration.Iteration;
                        stage.Announced = last;
                        await events.PublishEventAsync(new PolicyUpdated(Generation, spec.PpoRun, iteration.Iteration, spec.PpoIterations, iteration.MeanScore, iteration.MeanKl, DateTimeOffset.UtcNow), cancellationToken);
                    }

                    break;
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or TimeoutException or OrleansException)
        {
            logger.LogInformation("RLHF pipeline: stage {Stage} not readable yet ({Error}); trying again", stage.Name, e.Message);
        }

        await state.WriteStateAsync();
    }

    private async Task PublishAsync<T>(T message, string detail) where T : class
    {
        Record($"published {typeof(T).Name}", detail);
        await events.PublishEventAsync(message);
    }

    private void Fail(StageRecord stage, string reason)
    {
        (stage.State, stage.EndedAt) = ("failed", DateTimeOffset.UtcNow);
        state.State.Phase = "failed";
        state.State.Error = $"stage {stage.Name}: {reason}";
        _watch?.Dispose();
        logger.LogWarning("RLHF pipeline failed at stage {Stage}: {Reason}", stage.Name, reason);
    }

    private void Record(string name, string detail)
    {
        state.State.Events.Add(new RlhfEventView(name, detail, DateTimeOffset.UtcNow));
        if (state.State.Events.Count > EventsKept)
        {
            state.State.Events.RemoveAt(0);
        }
    }

    private StageRecord? Current() => state.State.Stages.FirstOrDefault(s => s.Name == state.State.Stage);

    private static List<string> Check(RlhfPipelineSpec spec)
    {
        var stages = spec.Stages is { Count: > 0 } named ? [.. named] : RlhfPipelineNames.Stages.ToList();
        var unknown = stages.FirstOrDefault(s => !RlhfPipelineNames.Stages.Contains(s));
        if (unknown is not null)
        {
            throw new ArgumentException($"Unknown RLHF stage '{unknown}': the stages are {string.Join(", ", RlhfPipelineNames.Stages)}.");
        }

        var order = stages.Select(s => RlhfPipelineNames.Stages.ToList().IndexOf(s)).ToArray();
        if (order.Distinct().Count() != order.Length || !order.SequenceEqual(order.Order()))
        {
            throw new ArgumentException($"Name each stage once, in the pipeline's order ({string.Join(", ", RlhfPipelineNames.Stages)}); got {string.Join(", ", stages)}.");
        }

        foreach (var (value, what, least) in new[] { (spec.SftSteps, "sftSteps", 1), (spec.RewardSteps, "rewardSteps", 1), (spec.PpoIterations, "ppoIterations", 1), (spec.PpoRollouts, "ppoRollouts", 2) })
        {
            if (value < least)
            {
                throw new ArgumentException($"The pipeline's {what} must be at least {least}; got {value}.");
            }
        }

        if (spec.MinRankings < 0)
        {
            throw new ArgumentException($"minRankings is 0 or more; got {spec.MinRankings}.");
        }

        return stages;
    }

    private RlhfPipelineStatus Status()
    {
        var s = state.State;
        return new RlhfPipelineStatus(
            s.Phase, s.Spec, s.Stage,
            [.. s.Stages.Select(x => new RlhfStageView(x.Name, x.State, x.Target, x.Progress, x.StartedAt, x.EndedAt))],
            [.. s.Events], s.Error);
    }
}

/// <summary>The pipeline's stored state.</summary>
[GenerateSerializer, Alias("RlhfPipelineState")]
public sealed class RlhfPipelineState
{
    [Id(0)] public int Generation { get; set; }

    [Id(1)] public string Phase { get; set; } = "idle";

    [Id(2)] public RlhfPipelineSpec? Spec { get; set; }

    [Id(3)] public string? Stage { get; set; }

    [Id(4)] public List<StageRecord> Stages { get; set; } = [];

    [Id(5)] public List<RlhfEventView> Events { get; set; } = [];

    [Id(6)] public string? Error { get; set; }
}

/// <summary>One stage's stored state; <see cref="Announced"/>: its ending event was published.</summary>
[GenerateSerializer, Alias("RlhfStageRecord")]
public sealed class StageRecord
{
    [Id(0)] public string Name { get; set; } = "";

    [Id(1)] public string State { get; set; } = "pending";

    [Id(2)] public string? Target { get; set; }

    [Id(3)] public string Progress { get; set; } = "";

    [Id(4)] public DateTimeOffset? StartedAt { get; set; }

    [Id(5)] public DateTimeOffset? EndedAt { get; set; }

    [Id(6)] public bool Announced { get; set; }

    [Id(7)] public int Reported { get; set; }
}
