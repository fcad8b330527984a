using System.Diagnostics;
using System.Runtime.InteropServices;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using Microsoft.Extensions.Logging;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// Drives a PPO run with <see cref="PpoLoop.StepAsync"/>, the code <see cref="PpoTrainer"/> runs in one process: here the
/// policy, value, reference and reward model are <see cref="IPpoModelGrain"/>s spread over the silos (the reward run's
/// <see cref="IRewardModelGrain"/> gives the normalisation at the start), and the policy's and the value model's updates
/// run on the training engine's stage grains (<see cref="PpoEngine"/>: pipeline stages × data-parallel replicas), whose
/// weights the model grains take after each update. After each iteration the run's state (iteration, β, metrics,
/// samples) is written; every <see cref="PpoRunSpec.CheckpointInterval"/> iterations the stage grains save theirs first.
/// A failed call (a silo lost) or a new activation of this grain re-initialises every model and stage at the last
/// checkpoint and goes on from there: every random choice depends only on (seed, iteration, row), so the run computes
/// what an uninterrupted one does.
/// </summary>
public sealed class PpoRunGrain(
    [PersistentState("ppo-run", TrainingStorage.ProviderName)] IPersistentState<PpoRunState> state,
    DatasetCache datasets,
    AdmissionOptions admission,
    ILogger<PpoRunGrain> logger) : Grain, IPpoRunGrain, IPpoModels
{
    /// <summary>Iterations whose sample completions the status keeps (4 each).</summary>
    public const int SampleIterationsKept = 10;

    /// <summary>How long a recovery keeps trying to initialise the models (a lost silo is declared dead within seconds).</summary>
    private static readonly TimeSpan RecoveryPatience = TimeSpan.FromMinutes(3);

    private Task? _loop;
    private CancellationTokenSource? _stopping;
    private bool _starting;
    private bool _deactivating;
    private PpoOptions? _options;
    private (PpoEngine Policy, PpoEngine Value)? _engines;
    private int _iteration; // the iteration PpoLoop is computing: its updates are engine steps from iteration × steps per iteration
    private TaskCompletionSource<int>? _checkpointNow; // a leaving silo asked for a checkpoint at the end of the iteration in flight
    private long? _rolloutRevision; // the revision of the rollout version that holds the policy's current weights
    private readonly PpoPrompts _prompts = new(PpoPrompts.DefaultSeed);

    private string RunId => this.GetPrimaryKeyString();

    private bool Active => state.State.Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering;

    public async Task<PpoRunStatus> StartAsync(PpoRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Active || _starting)
        {
            throw new InvalidOperationException($"PPO run '{RunId}' is already {(_starting ? "starting" : state.State.Phase.ToString().ToLowerInvariant())} (iteration {state.State.Iteration}); stop it first.");
        }

        var options = PpoSpecs.Options(spec);
        _starting = true;
        var placed = false;
        try
        {
            // Everything that can refuse the spec runs before the run's state is written: a refused start leaves the run as
            // it was (a model grain may have kept its source weights, which the next fresh start replaces). The memory the
            // run would take and its place among the cluster's active runs come first, before any model or stage grain is
            // touched; the catch below gives the place back.
            placed = await AdmitAsync(spec, options);
            var reward = await GrainFactory.GetGrain<IRewardModelGrain>(spec.RewardRun).GetInfoAsync();
            var placements = await InitializeModelsAsync(spec, fresh: true);
            var policySource = (await GrainFactory.GetGrain<ITrainingRunGrain>(spec.PolicyRun).GetStatusAsync()).Spec!;
            var rewardSource = (await GrainFactory.GetGrain<ITrainingRunGrain>(spec.RewardRun).GetStatusAsync()).Spec!;
            var engines = (Policy: PpoSpecs.EngineSpec(spec, PpoRole.Policy, policySource), Value: PpoSpecs.EngineSpec(spec, PpoRole.Value, rewardSource));
            _engines = (new PpoEngine(GrainFactory, RunId, PpoRole.Policy, engines.Policy), new PpoEngine(GrainFactory, RunId, PpoRole.Value, engines.Value));
            var policyWeights = await Model(PpoRole.Policy).GetParametersAsync();
            await Task.WhenAll(
                _engines.Value.Policy.InitializeAsync(null, policyWeights),
                _engines.Value.Value.InitializeAsync(null, await Model(PpoRole.Value).GetParametersAsync()),
                PublishRolloutAsync(spec, engines.Policy, 0, policyWeights));
            var admission = await Registry().TryAddAsync(RunId, limit: int.MaxValue, estimatedBytes: 0, clusterBudgetBytes: long.MaxValue);
            if (!admission.Admitted)
            {
                throw new InvalidOperationException($"PPO run '{RunId}' was not admitted.");
            }

            state.State = new PpoRunState
            {
                Spec = spec, Phase = RunPhase.Running, KlCoefficient = spec.KlCoefficient, CheckpointKlCoefficient = spec.KlCoefficient,
                NormalizationMean = reward.Mean, NormalizationStd = reward.Std, Models = placements, StartedAt = DateTimeOffset.UtcNow,
                PolicyEngine = engines.Policy, ValueEngine = engines.Value, TrainingStages = await TrainingPlacementsAsync(spec),
            };
            await state.WriteStateAsync();
            _options = options;
            StartLoop(resume: false);
            return Status();
        }
        catch
        {
            _engines = null; // the refused spec's stages; the run's state still describes the previous start
            if (placed)
            {
                await Places().RemoveAsync(PpoNames.AdmissionPlace(RunId));
            }

            throw;
        }
        finally
        {
            _starting = false;
        }
    }

    public async Task<PpoRunStatus> StopAsync()
    {
        if (_stopping is { } stopping)
        {
            await stopping.CancelAsync();
        }

        if (_loop is { } loop)
        {
            try
            {
                await loop;
            }
            catch (OperationCanceledException)
            {
                // stopped
            }
        }
        else if (Active)
        {
            state.State.Phase = RunPhase.Stopped;
            await state.WriteStateAsync();
        }

        await LeaveRegistriesAsync();
        return Status();
    }

    public Task<PpoRunStatus> GetStatusAsync() => Task.FromResult(Status());

    public Task<int> CheckpointNowAsync()
    {
        if (!Active || _loop is null)
        {
            return Task.FromResult(state.State.LastCheckpointIteration);
        }

        _checkpointNow ??= new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        return _checkpointNow.Task;
    }

    public Task EnsureRunningAsync()
    {
        if (Active && _loop is null && !_starting)
        {
            StartLoop(resume: true);
        }

        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<NamedTensor>> GetPolicyParametersAsync()
    {
        _ = state.State.Spec ?? throw new ArgumentException($"PPO run '{RunId}' has never started.");
        // The policy's stage grains: an ended run's come back from their last checkpoint (the iteration it reached) when
        // they were collected or lost with their silo.
        return await Engines().Policy.GetParametersAsync();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating = true;
        if (_stopping is { } stopping)
        {
            await stopping.CancelAsync();
        }

        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>
    /// The iteration's rollouts through the inference pipeline: each completion a generation session on the rollout
    /// version's stage grains (their KV caches), drawn token by token from the logits the last stage returns, up to
    /// Inference:MaxSessions at once; then their log-probabilities under the policy by one forward of the batch.
    /// </summary>
    async Task<PpoRollouts> IPpoModels.SampleAsync(int iteration)
    {
        var revision = _rolloutRevision ?? throw new InvalidOperationException($"PPO run '{RunId}' has not published its policy for sampling.");
        var engine = state.State.PolicyEngine!;
        var vocabulary = datasets.Get(engine).Vocabulary;
        var plan = PpoModels.Plan(vocabulary, _options!, _prompts.At, iteration, engine.Context);
        var first = GrainFactory.GetGrain<IInferenceStageGrain>(InferenceNames.StageKey(InferenceNames.PpoRolloutVersion(RunId), 0));
        using var sessions = new SemaphoreSlim(Math.Max(1, admission.MaxSessions));
        var completions = await Task.WhenAll(plan.Select(async p =>
        {
            await sessions.WaitAsync();
            var session = $"{RunId}/{iteration}/{p.Row}";
            try
            {
                return await PpoModels.CompleteAsync(
                    async (tokens, start) =>
                    {
                        var logits = await first.ForwardAsync(new StageForward(session, revision, start, TokenBytes.From(tokens), null));
                        return MemoryMarshal.Cast<byte, float>(logits.Data).ToArray();
                    },
                    p.Prompt, p.Seed, p.MaxTokens, engine.Context);
            }
            finally
            {
                sessions.Release();
                await EndSessionAsync(first, session);
            }
        }));
        var rows = PpoModels.Rows(plan, completions, engine.Context);
        var logProbabilities = await Model(PpoRole.Policy).LogProbabilitiesAsync(rows.ToMessage());
        return PpoModels.Rollouts(vocabulary, plan, completions, rows, logProbabilities);
    }

    /// <summary>Frees a session's caches; a stage lost with its silo has freed them already (and the iteration fails anyway).</summary>
    private async Task EndSessionAsync(IInferenceStageGrain first, string session)
    {
        try
        {
            await first.EndSessionAsync(session);
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
        {
            logger.LogDebug(e, "PPO run {Run}: session {Session} could not be ended", RunId, session);
        }
    }

    /// <summary>The policy's weights at <paramref name="iteration"/> become the rollout version (in the update's stages), which the next rollouts are sampled through.</summary>
    private async Task PublishRolloutAsync(PpoRunSpec spec, TrainingRunSpec policy, int iteration, IReadOnlyList<NamedTensor> weights)
    {
        var info = await GrainFactory.GetGrain<IModelVersionGrain>(InferenceNames.PpoRolloutVersion(RunId)).PublishPpoRolloutAsync(RunId, iteration, policy, weights, spec.Stages);
        _rolloutRevision = info.Revision;
    }

    Task<float[]> IPpoModels.ReferenceLogProbabilitiesAsync(PpoRows rows) => Model(PpoRole.Reference).LogProbabilitiesAsync(rows.ToMessage());

    Task<float[]> IPpoModels.ValuesAsync(PpoRows rows) => Model(PpoRole.Value).ValuesAsync(rows.ToMessage());

    Task<double[]> IPpoModels.ScoresAsync(IReadOnlyList<string> instructions, IReadOnlyList<string> texts) =>
        Model(PpoRole.Reward).ScoreAsync([.. instructions], [.. texts]);

    Task<IReadOnlyList<PpoUpdateStatistics>> IPpoModels.UpdatePolicyAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches) =>
        UpdateAsync(Engines().Policy, PpoRole.Policy, rows, tokens, minibatches);

    Task<IReadOnlyList<PpoUpdateStatistics>> IPpoModels.UpdateValueAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches) =>
        UpdateAsync(Engines().Value, PpoRole.Value, rows, tokens, minibatches);

    /// <summary>The model's minibatch steps on its stage grains, then its model grain takes the weights they trained to.</summary>
    private async Task<IReadOnlyList<PpoUpdateStatistics>> UpdateAsync(PpoEngine engine, PpoRole role, PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches)
    {
        var statistics = await engine.UpdateAsync(rows, tokens, minibatches, _iteration * PpoSpecs.StepsPerIteration(_options!));
        var weights = await engine.GetParametersAsync();
        await Task.WhenAll(
            Model(role).LoadWeightsAsync(weights),
            role == PpoRole.Policy ? PublishRolloutAsync(state.State.Spec!, state.State.PolicyEngine!, _iteration + 1, weights) : Task.CompletedTask);
        return statistics;
    }

    private void StartLoop(bool resume)
    {
        _options ??= PpoSpecs.Options(state.State.Spec!);
        _stopping = new CancellationTokenSource();
        _loop = RunLoopAsync(resume, _stopping.Token);
    }

    private async Task RunLoopAsync(bool resume, CancellationToken stopping)
    {
        var spec = state.State.Spec!;
        var options = _options!;
        try
        {
            if (resume)
            {
                await RecoverAsync("the PPO run's grain was reactivated on another silo", DateTimeOffset.UtcNow, stopping);
            }

            var normalization = new ScoreNormalization(state.State.NormalizationMean, state.State.NormalizationStd);
            while (state.State.Iteration < spec.Iterations)
            {
                stopping.ThrowIfCancellationRequested();
                var iteration = state.State.Iteration;
                _iteration = iteration;
                try
                {
                    var result = await PpoLoop.StepAsync(this, options, normalization, iteration, state.State.KlCoefficient);
                    stopping.ThrowIfCancellationRequested(); // a deactivated activation must not record or checkpoint
                    var done = result.Iteration;
                    var requested = _checkpointNow; // asked for while the iteration ran (a silo about to leave): saved now
                    if (done % spec.CheckpointInterval == 0 || done == spec.Iterations || requested is not null)
                    {
                        await Task.WhenAll(Engines().Policy.SaveCheckpointAsync(done), Engines().Value.SaveCheckpointAsync(done));
                        state.State.LastCheckpointIteration = done;
                        state.State.CheckpointKlCoefficient = result.KlCoefficient;
                    }

                    state.State.Iteration = done;
                    state.State.KlCoefficient = result.KlCoefficient;
                    state.State.History.Add(result.ToView());
                    state.State.Samples.AddRange(result.Samples.Select(s => new PpoSampleView(done, s.Prompt, s.Completion, s.Ended, s.Score, s.RuleScore, s.Kl)));
                    state.State.Samples.RemoveAll(s => s.Iteration <= done - SampleIterationsKept);
                    await state.WriteStateAsync();
                    if (requested is not null)
                    {
                        _checkpointNow = ReferenceEquals(_checkpointNow, requested) ? null : _checkpointNow;
                        requested.TrySetResult(done);
                    }
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    logger.LogWarning(e, "PPO run {Run} failed at iteration {Iteration}; going back to iteration {Checkpoint}", RunId, iteration, state.State.LastCheckpointIteration);
                    await RecoverAsync(e.Message, DateTimeOffset.UtcNow, stopping);
                }
            }

            state.State.Phase = RunPhase.Completed;
            await state.WriteStateAsync();
            await LeaveRegistriesAsync();
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            if (!_deactivating)
            {
                await CheckpointStoppedAsync();
                state.State.Phase = RunPhase.Stopped;
                await state.WriteStateAsync();
            }
        }
        catch (Exception e) when (_deactivating)
        {
            logger.LogInformation("PPO run {Run}'s loop ended with its deactivated activation ({Error}); a new one resumes it", RunId, e.Message);
        }
        catch (Exception e)
        {
            logger.LogError(e, "PPO run {Run} failed", RunId);
            state.State.Phase = RunPhase.Failed;
            state.State.Error = e.Message;
            await state.WriteStateAsync();
            await LeaveRegistriesAsync();
        }
        finally
        {
            _loop = null;
            Interlocked.Exchange(ref _checkpointNow, null)?.TrySetResult(state.State.LastCheckpointIteration);
        }
    }

    /// <summary>
    /// A stopped run keeps the iteration it reached: the policy's and value model's stages save it as a checkpoint (when
    /// they still hold the models; otherwise the run stays at its last checkpoint, rewound to it).
    /// </summary>
    private async Task CheckpointStoppedAsync()
    {
        var reached = state.State.Iteration;
        if (reached == state.State.LastCheckpointIteration)
        {
            return;
        }

        try
        {
            await Task.WhenAll(Engines().Policy.SaveCheckpointAsync(reached), Engines().Value.SaveCheckpointAsync(reached));
            state.State.LastCheckpointIteration = reached;
            state.State.CheckpointKlCoefficient = state.State.KlCoefficient;
        }
        catch (Exception e) when (e is InvalidOperationException or OrleansException or TimeoutException)
        {
            logger.LogWarning(e, "PPO run {Run} stopped at iteration {Iteration} could not checkpoint it; it stays at iteration {Checkpoint}", RunId, reached, state.State.LastCheckpointIteration);
            var checkpoint = state.State.LastCheckpointIteration;
            state.State.Iteration = checkpoint;
            state.State.KlCoefficient = state.State.CheckpointKlCoefficient;
            state.State.History.RemoveAll(h => h.Iteration > checkpoint);
            state.State.Samples.RemoveAll(s => s.Iteration > checkpoint);
        }
    }

    /// <summary>Initialises every model at the last checkpoint (trying again while a lost silo is being declared dead) and rewinds the run's state to it.</summary>
    private async Task RecoverAsync(string cause, DateTimeOffset detected, CancellationToken stopping)
    {
        var spec = state.State.Spec!;
        var failedAt = state.State.Iteration;
        var checkpoint = state.State.LastCheckpointIteration;
        state.State.Phase = RunPhase.Recovering;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            stopping.ThrowIfCancellationRequested();
            try
            {
                state.State.Models = await InitializeModelsAsync(spec, fresh: false);
                var (policy, value) = Engines();
                await Task.WhenAll(policy.InitializeAsync(checkpoint, weights: null), value.InitializeAsync(checkpoint, weights: null));
                var policyWeights = await policy.GetParametersAsync();
                await Task.WhenAll(
                    Model(PpoRole.Policy).LoadWeightsAsync(policyWeights),
                    Model(PpoRole.Value).LoadWeightsAsync(await value.GetParametersAsync()),
                    PublishRolloutAsync(spec, state.State.PolicyEngine!, checkpoint, policyWeights));
                state.State.TrainingStages = await TrainingPlacementsAsync(spec);
                break;
            }
            catch (Exception e) when (!stopping.IsCancellationRequested && e is not ArgumentException && clock.Elapsed < RecoveryPatience)
            {
                logger.LogInformation("PPO run {Run}: models not ready at iteration {Checkpoint} yet ({Error}); trying again", RunId, checkpoint, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stopping);
            }
        }

        state.State.Iteration = checkpoint;
        state.State.KlCoefficient = state.State.CheckpointKlCoefficient;
        state.State.History.RemoveAll(h => h.Iteration > checkpoint);
        state.State.Samples.RemoveAll(s => s.Iteration > checkpoint);
        state.State.Recoveries.Add(new RecoveryRecord(failedAt, checkpoint, cause, detected, (DateTimeOffset.UtcNow - detected).TotalSeconds));
        state.State.Phase = RunPhase.Running;
        await state.WriteStateAsync();
    }

    private async Task<List<PpoModelPlacement>> InitializeModelsAsync(PpoRunSpec spec, bool fresh)
    {
        var silos = await Task.WhenAll(PpoNames.Roles.Select(role => Model(role).InitializeAsync(RunId, role, spec, fresh)));
        return [.. PpoNames.Roles.Select((role, i) => new PpoModelPlacement(role.ToString().ToLowerInvariant(), PpoNames.ModelKey(RunId, role), silos[i]))];
    }

    /// <summary>Where the policy's and value model's training stages run, and the rollout version's inference stages (role "rollout").</summary>
    private async Task<List<PpoModelPlacement>> TrainingPlacementsAsync(PpoRunSpec spec)
    {
        var (policy, value) = Engines();
        var placements = await Task.WhenAll(policy.PlacementsAsync(), value.PlacementsAsync());
        var version = InferenceNames.PpoRolloutVersion(RunId);
        var rollout = await Task.WhenAll(Enumerable.Range(0, spec.Stages).Select(async stage =>
        {
            var key = InferenceNames.StageKey(version, stage);
            return new PpoModelPlacement("rollout", key, (await GrainFactory.GetGrain<IInferenceStageGrain>(key).DescribeAsync()).Silo);
        }));
        return [.. placements.SelectMany(p => p), .. rollout];
    }

    /// <summary>The policy's and the value model's stage grains, as the run's state describes them.</summary>
    private (PpoEngine Policy, PpoEngine Value) Engines() => _engines ??= (
        new PpoEngine(GrainFactory, RunId, PpoRole.Policy, state.State.PolicyEngine ?? throw new InvalidOperationException($"PPO run '{RunId}' has no policy stages (it never started).")),
        new PpoEngine(GrainFactory, RunId, PpoRole.Value, state.State.ValueEngine ?? throw new InvalidOperationException($"PPO run '{RunId}' has no value stages (it never started).")));

    private IPpoModelGrain Model(PpoRole role) => GrainFactory.GetGrain<IPpoModelGrain>(PpoNames.ModelKey(RunId, role));

    /// <summary>
    /// Admission, as a training run's: refuses a spec whose update stages or models would not fit the silos' memory budget
    /// (<see cref="PpoAdmission"/>), then takes the run's place among the cluster's active runs (<see cref="PpoNames.AdmissionPlace"/>
    /// in the training runs' registry, with its estimate), unless <c>Training:MaxActiveRuns</c> runs are active or they
    /// hold too much of the budget. Returns false, taking no place, when a source run has no spec: the model grains name it.
    /// </summary>
    /// <exception cref="ArgumentException">It does not fit; the message gives the estimate and the budget.</exception>
    /// <exception cref="InvalidOperationException">The cluster has as many active runs as it allows, or they hold too much of its memory.</exception>
    private async Task<bool> AdmitAsync(PpoRunSpec spec, PpoOptions options)
    {
        var policySource = (await GrainFactory.GetGrain<ITrainingRunGrain>(spec.PolicyRun).GetStatusAsync()).Spec;
        var rewardSource = (await GrainFactory.GetGrain<ITrainingRunGrain>(spec.RewardRun).GetStatusAsync()).Spec;
        if (policySource is null || rewardSource is null)
        {
            return false;
        }

        var estimate = PpoAdmission.Estimate(
            PpoSpecs.EngineSpec(spec, PpoRole.Policy, policySource), datasets.Get(policySource).Vocabulary.Count,
            PpoSpecs.EngineSpec(spec, PpoRole.Value, rewardSource), datasets.Get(rewardSource).Vocabulary.Count, options.Rollouts);
        var silos = Math.Max(1, (await GrainFactory.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count);
        PpoAdmission.Admit(estimate, admission.MemoryBudgetBytes, silos);
        var cluster = StageMemory.Bytes((double)admission.MemoryBudgetBytes * silos);
        var place = await Places().TryAddAsync(PpoNames.AdmissionPlace(RunId), admission.MaxActiveRuns, estimate.TotalBytes, cluster);
        if (place.Admitted)
        {
            return true;
        }

        var active = string.Join(", ", place.ActiveRuns.Select(r => $"'{r}'"));
        throw new InvalidOperationException(place.ActiveRuns.Count >= admission.MaxActiveRuns
            ? $"The cluster already has {place.ActiveRuns.Count} active run(s) ({active}), its limit (Training:MaxActiveRuns): stop one, or wait for one to end, before starting PPO run '{RunId}'."
            : $"The active run(s) {active} already hold about {StageMemory.Format(place.ActiveBytes)} of the cluster's {StageMemory.Format(cluster)} memory budget " +
              $"({silos} silo(s) x {StageMemory.Format(admission.MemoryBudgetBytes)}, Compute:MemoryBudget), and PPO run '{RunId}' would need about {StageMemory.Format(estimate.TotalBytes)} more: " +
              "stop a run, wait for one to end, or add silos.");
    }

    /// <summary>An ended or stopped run leaves the supervisor's registry and gives back its place among the active runs.</summary>
    private async Task LeaveRegistriesAsync()
    {
        await Registry().RemoveAsync(RunId);
        await Places().RemoveAsync(PpoNames.AdmissionPlace(RunId));
    }

    private ITrainingRegistryGrain Places() => GrainFactory.GetGrain<ITrainingRegistryGrain>(TrainingStorage.RegistryKey);

    private ITrainingRegistryGrain Registry() => GrainFactory.GetGrain<ITrainingRegistryGrain>(PpoNames.RegistryKey);

    private PpoRunStatus Status()
    {
        var s = state.State;
        return new PpoRunStatus(
            RunId, s.Spec is null ? RunPhase.NotStarted : s.Phase, s.Spec, s.Iteration, s.KlCoefficient, s.LastCheckpointIteration,
            s.NormalizationMean, s.NormalizationStd, [.. s.History], [.. s.Samples], [.. s.Models], [.. s.Recoveries], s.Error)
        {
            TrainingStages = [.. s.TrainingStages],
        };
    }
}

/// <summary>A PPO run's stored state.</summary>
[GenerateSerializer, Alias("PpoRunState")]
public sealed class PpoRunState
{
    [Id(0)] public PpoRunSpec? Spec { get; set; }

    [Id(1)] public RunPhase Phase { get; set; }

    [Id(2)] public int Iteration { get; set; }

    [Id(3)] public double KlCoefficient { get; set; }

    [Id(4)] public int LastCheckpointIteration { get; set; }

    [Id(5)] public double CheckpointKlCoefficient { get; set; }

    [Id(6)] public double NormalizationMean { get; set; }

    [Id(7)] public double NormalizationStd { get; set; } = 1;

    [Id(8)] public List<PpoIterationView> History { get; set; } = [];

    [Id(9)] public List<PpoSampleView> Samples { get; set; } = [];

    [Id(10)] public List<PpoModelPlacement> Models { get; set; } = [];

    [Id(11)] public List<RecoveryRecord> Recoveries { get; set; } = [];

    [Id(12)] public string? Error { get; set; }

    [Id(13)] public DateTimeOffset StartedAt { get; set; }

    /// <summary>The training spec of the policy's stage grains (<see cref="PpoSpecs.EngineSpec"/>).</summary>
    [Id(14)] public TrainingRunSpec? PolicyEngine { get; set; }

    [Id(15)] public TrainingRunSpec? ValueEngine { get; set; }

    [Id(16)] public List<PpoModelPlacement> TrainingStages { get; set; } = [];
}
