using System.Diagnostics;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Optimization;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Runtime.Placement;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// Drives one run: per step, every stage grain runs its schedule (activations and gradients flow between them as
/// messages), reduces its gradient (ring all-reduce, tied matrix), and takes one AdamW step with the global clipping
/// coefficient. Every K steps all stages checkpoint; the run records the step only when all of them have, so that
/// checkpoint is consistent. Any failure rolls every stage back to it and the loop continues by itself.
/// </summary>
[Reentrant] // status and history answer while the loop awaits its stages
public sealed class TrainingRunGrain(
    [PersistentState("run", TrainingStorage.ProviderName)] IPersistentState<TrainingRunState> state,
    ITrainingEventPublisher events,
    TrainingMetrics meter,
    DatasetCache datasets,
    CorpusLocator corpora,
    AdmissionOptions admission,
    IClusterMembershipService membership,
    ILogger<TrainingRunGrain> logger) : Grain, ITrainingRunGrain
{
    private const int TraceSteps = 20;
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromMinutes(3);

    /// <summary>How long a re-placement after a join keeps moving stages that landed elsewhere than placement expects.</summary>
    private static readonly TimeSpan PlacementSettleTime = TimeSpan.FromSeconds(20);

    private readonly TraceRecorder _trace = new(TraceSteps);
    private Task? _loop;

    // Set while StartAsync awaits admission and its first write. The grain is reentrant: without this, the supervisor's
    // EnsureRunningAsync arriving in that window saw an active run with no loop and started a second one (a "resume"
    // from step 0 beside the real start: two loops drove the same stages; found as a rare failover-test failure).
    private bool _starting;
    private CancellationTokenSource? _stopping;
    private bool _deactivating;
    private bool _rollBackRequested;
    private TaskCompletionSource<long>? _checkpointNow;
    private string? _leavingSilo;
    private List<string> _joinedSilos = [];
    private DateTimeOffset? _moveRequestedAt;

    /// <summary>The recovery cause of a rollback someone asked for (the stress suite tells these from failures by it).</summary>
    public const string RollBackCause = "rollback requested";
    private double? _tokensPerSecond;

    private string RunId => this.GetPrimaryKeyString();

    private bool Active => state.State.Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering;

    public async Task<RunStatus> StartAsync(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Active || _starting)
        {
            throw new InvalidOperationException($"Run '{RunId}' is already {(_starting ? "starting" : state.State.Phase.ToString().ToLowerInvariant())} (step {state.State.Step}); stop it first.");
        }

        _starting = true;
        try
        {
            return await StartCoreAsync(spec);
        }
        finally
        {
            _starting = false;
        }
    }

    private async Task<RunStatus> StartCoreAsync(TrainingRunSpec spec)
    {
        try
        {
            spec = await AdmitAsync(spec);
            state.State = new TrainingRunState { Spec = spec, Phase = RunPhase.Starting, StartedAt = DateTimeOffset.UtcNow };
            _trace.Clear();
            await state.WriteStateAsync();
        }
        catch
        {
            await GrainFactory.GetGrain<ITrainingRegistryGrain>(TrainingStorage.RegistryKey).RemoveAsync(RunId);
            if (!state.RecordExists)
            {
                DeactivateOnIdle(); // a refused start of a new run leaves no activation behind, as it leaves no record
            }

            throw;
        }

        StartLoop(resume: false);
        return Status();
    }

    /// <summary>
    /// Admission, before any grain is created or storage written: the spec, the corpus (and an sft run's instructions),
    /// the version its weights start from, the memory it would take against the budget of the active silos, and the
    /// cluster's limit on active runs (which this run then holds a place in). Returns the spec to run: with the revision
    /// of its initial weights pinned.
    /// </summary>
    /// <exception cref="ArgumentException">The spec, its corpus, its instructions, its initial weights or its memory is refused; the message says why.</exception>
    /// <exception cref="InvalidOperationException">The cluster has as many active runs as it allows, or they hold too much of its memory for this one.</exception>
    private async Task<TrainingRunSpec> AdmitAsync(TrainingRunSpec spec)
    {
        RunLayout.Validate(spec, corpora);
        var data = datasets.Get(spec); // an unreadable corpus fails here
        var clusterRankings = TrainingRunSpecs.Objective(spec) == ObjectiveKind.Reward && TrainingRunSpecs.RankingSource(spec) == TrainingRunSpecs.ClusterRankings;
        if (!clusterRankings)
        {
            datasets.Batches(spec); // and a bad instruction file here, naming its line
        }

        spec = await PinInitialWeightsAsync(spec, data);
        spec = await PinResumeAsync(spec);
        var silos = (await GrainFactory.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count;
        var estimate = RunAdmission.Admit(spec, data.Vocabulary.Count, admission.MemoryBudgetBytes, Math.Max(1, silos));
        var cluster = StageMemory.Bytes((double)admission.MemoryBudgetBytes * Math.Max(1, silos));
        var place = await GrainFactory.GetGrain<ITrainingRegistryGrain>(TrainingStorage.RegistryKey)
            .TryAddAsync(RunId, admission.MaxActiveRuns, estimate.TotalBytes, cluster);
        if (place.Admitted)
        {
            if (clusterRankings)
            {
                // Last, so that a refusal above writes nothing; the catch in StartAsync gives the place back if this fails.
                var snapshot = GrainFactory.GetGrain<IRankingSnapshotGrain>(RunId);
                await snapshot.TakeAsync(spec.RankingCompletions);
                var taken = await snapshot.GetAsync();
                datasets.LoadRankings(RunId, spec, taken);
            }

            return spec;
        }

        var active = string.Join(", ", place.ActiveRuns.Select(r => $"'{r}'"));
        throw new InvalidOperationException(place.ActiveRuns.Count >= admission.MaxActiveRuns
            ? $"The cluster already has {place.ActiveRuns.Count} active run(s) ({active}), its limit (Training:MaxActiveRuns): stop one, or wait for one to end, before starting '{RunId}'."
            : $"The active run(s) {active} already hold about {StageMemory.Format(place.ActiveBytes)} of the cluster's {StageMemory.Format(cluster)} memory budget " +
              $"({Math.Max(1, silos)} silo(s) x {StageMemory.Format(admission.MemoryBudgetBytes)}, Compute:MemoryBudget), and '{RunId}' would need about {StageMemory.Format(estimate.TotalBytes)} more: " +
              "stop a run, wait for one to end, or add silos.");
    }

    /// <summary>
    /// The run a run continues from (<see cref="TrainingRunSpec.ResumeFrom"/>) must have stopped or ended with a
    /// consistent checkpoint, and be the same model on the same data and objective; the step of that checkpoint is pinned
    /// in the spec, so the new run's recovery and status say where it started.
    /// </summary>
    private async Task<TrainingRunSpec> PinResumeAsync(TrainingRunSpec spec)
    {
        if (spec.ResumeFrom is not { } source)
        {
            return spec;
        }

        if (source == RunId)
        {
            throw new ArgumentException($"Run '{RunId}' cannot continue from itself: start it under another id with resumeFrom '{source}'.");
        }

        var status = await GrainFactory.GetGrain<ITrainingRunGrain>(source).GetStatusAsync();
        if (status.Phase == RunPhase.NotStarted || status.Spec is not { } from)
        {
            throw new ArgumentException($"Run '{source}' has never started on this cluster, so it has no checkpoint to continue from.");
        }

        if (status.Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            throw new ArgumentException($"Run '{source}' is {status.Phase.ToString().ToLowerInvariant()}: stop it first (train stop --run {source}); a run continues from another's checkpoint once that one has stopped.");
        }

        if (status.LastCheckpointStep < 1)
        {
            throw new ArgumentException($"Run '{source}' holds no checkpoint after a step to continue from (give it --checkpoint-interval).");
        }

        if ((from.Layers, from.Heads, from.Width, from.Context, from.Corpus, from.Encoding, from.Seed, from.Objective, from.RankingCompletions, from.Rankings, from.Instructions)
            != (spec.Layers, spec.Heads, spec.Width, spec.Context, spec.Corpus, spec.Encoding, spec.Seed, spec.Objective, spec.RankingCompletions, spec.Rankings, spec.Instructions))
        {
            throw new ArgumentException(
                $"Run '{source}' trains {from.Layers} layers x {from.Heads} heads x {from.Width} wide with a context of {from.Context} on '{from.Corpus}' ({from.Encoding}), " +
                $"seed {from.Seed}, objective {from.Objective}: a run that continues it keeps all of these and may change only its layout, batch and schedule.");
        }

        if (spec.ResumeStep is { } pinned && pinned != status.LastCheckpointStep)
        {
            throw new ArgumentException($"resumeStep {pinned} is not run '{source}''s last checkpoint, which is of step {status.LastCheckpointStep} (leave resumeStep out).");
        }

        if (status.LastCheckpointStep >= spec.Steps)
        {
            throw new ArgumentException($"Run '{source}' is already at step {status.LastCheckpointStep}; give this run more steps than that (steps {spec.Steps}).");
        }

        return spec with { ResumeStep = status.LastCheckpointStep };
    }

    /// <summary>
    /// The stage states of <see cref="TrainingRunSpec.ResumeFrom"/>'s checkpoint (replica 0's: every replica holds the same
    /// bits) cut for this run's stages and stored as every replica's checkpoint of that step; then every stage starts
    /// from it. Returns the step to continue from.
    /// </summary>
    private async Task<long> ContinueFromAsync(TrainingRunSpec spec)
    {
        var (source, from) = (spec.ResumeFrom!, spec.ResumeStep!.Value);
        var sourceSpec = (await GrainFactory.GetGrain<ITrainingRunGrain>(source).GetStatusAsync()).Spec!;
        var old = await Task.WhenAll(Enumerable.Range(0, sourceSpec.Stages).Select(s =>
            GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(source, 0, s, sourceSpec.Stages)).GetCheckpointAsync(from)));
        var config = TrainingRunSpecs.Model(spec, datasets.Get(spec));
        var states = StageStateReshard.Reshard(old, StageStateReshard.StageNames(config, spec.Stages, TrainingObjective.HeadFor(TrainingRunSpecs.Objective(spec))));
        await Task.WhenAll(Stages(spec).Select(s => s.Grain.SeedCheckpointAsync(new StageAssignment(RunId, s.Stage, s.Replica, spec), from, states[s.Stage])));
        await InitializeAllAsync(spec, restoreStep: from);
        state.State.Step = from;
        state.State.LastCheckpointStep = from;
        await state.WriteStateAsync();
        logger.LogInformation("Run {Run} continues run {Source} from its checkpoint of step {Step} at {Stages} stage(s) x {Replicas} replica(s)", RunId, source, from, spec.Stages, spec.Replicas);
        return from;
    }

    /// <summary>
    /// The version a run starts from must exist and be the model this spec describes (shape and vocabulary); the run
    /// records its current revision, so recovery never loads weights published after the start.
    /// </summary>
    private async Task<TrainingRunSpec> PinInitialWeightsAsync(TrainingRunSpec spec, TokenDataset data)
    {
        if (spec.InitFrom is not { } name)
        {
            return spec;
        }

        var version = GrainFactory.GetGrain<IModelVersionGrain>(name);
        var info = await version.GetInfoAsync(); // an unknown version is refused with how to publish one
        if (spec.InitRevision is { } pinned && pinned != info.Revision)
        {
            throw new ArgumentException($"initRevision {pinned} is not version '{name}''s revision; it is at revision {info.Revision} (leave initRevision out to start from it).");
        }

        var b = info.Spec;
        if ((b.Layers, b.Heads, b.Width, b.Context) != (spec.Layers, spec.Heads, spec.Width, spec.Context))
        {
            throw new ArgumentException(
                $"Version '{name}' is {b.Layers} layers x {b.Heads} heads x {b.Width} wide with a context of {b.Context}, but this run asks for " +
                $"{spec.Layers} x {spec.Heads} x {spec.Width} with a context of {spec.Context}: a run that starts from a version keeps its shape " +
                $"(--layers {b.Layers} --heads {b.Heads} --width {b.Width} --context {b.Context}).");
        }

        using var reader = new BinaryReader(new MemoryStream(await version.GetVocabularyAsync()));
        var vocabulary = Maths.Tokenization.ModelVocabulary.Read(reader);
        if (!vocabulary.SameAs(data.Vocabulary))
        {
            throw new ArgumentException(
                $"Version '{name}' was trained on corpus '{b.Corpus}' ({b.Encoding}), whose vocabulary ({vocabulary.Count} tokens) is not this run's: corpus '{spec.Corpus}' " +
                $"({spec.Encoding}, seed {spec.Seed}) has {data.Vocabulary.Count} tokens. Name the version's corpus and encoding (--corpus {b.Corpus} --encoding {b.Encoding}).");
        }

        return spec with { InitRevision = info.Revision };
    }

    public async Task<RunStatus> StopAsync()
    {
        if (_stopping is { } stopping)
        {
            await stopping.CancelAsync();
        }

        if (_loop is { } loop)
        {
            await loop;
        }

        if (Active)
        {
            state.State.Phase = RunPhase.Stopped;
            await state.WriteStateAsync();
        }

        await GrainFactory.GetGrain<ITrainingRegistryGrain>(TrainingStorage.RegistryKey).RemoveAsync(RunId);
        return Status();
    }

    public Task<RunStatus> GetStatusAsync()
    {
        if (!state.RecordExists && _loop is null)
        {
            DeactivateOnIdle(); // asking about a run that was never started keeps nothing active
        }

        return Task.FromResult(Status());
    }

    public Task<long> CheckpointNowAsync(string? leavingSilo = null)
    {
        if (!Active || _loop is null)
        {
            return Task.FromResult(state.State.LastCheckpointStep);
        }

        if (leavingSilo is not null)
        {
            _leavingSilo ??= leavingSilo;
            _moveRequestedAt ??= DateTimeOffset.UtcNow;
        }

        _checkpointNow ??= new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        return _checkpointNow.Task;
    }

    public Task<long> SpreadAsync(string joinedSilo)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(joinedSilo);
        _ = SiloAddress.FromParsableString(joinedSilo); // a malformed address fails the call, not the loop
        if (!Active || _loop is null)
        {
            return Task.FromResult(state.State.LastCheckpointStep);
        }

        if (!_joinedSilos.Contains(joinedSilo))
        {
            _joinedSilos.Add(joinedSilo);
        }

        _moveRequestedAt ??= DateTimeOffset.UtcNow;
        logger.LogInformation("Run {Run}: silo {Silo} joined; the stages move at the end of step {Step}", RunId, joinedSilo, state.State.Step + 1);
        return CheckpointNowAsync();
    }

    /// <summary>
    /// After a checkpoint taken because a silo leaves or joins: waits for the cluster to show it, releases every stage when
    /// a silo joined (so placement spreads them over the silos there are now), and starts every stage again from that
    /// checkpoint. Returns the step to continue from: the checkpoint's, so no step is lost.
    /// </summary>
    private async Task<long> MoveStagesAsync(string? leaving, IReadOnlyList<string> joined, long step, CancellationToken stopping)
    {
        var requested = _moveRequestedAt ?? DateTimeOffset.UtcNow;
        _moveRequestedAt = null;
        if (leaving is not null)
        {
            await WaitForLeavingSiloAsync(leaving, stopping);
        }

        if (joined.Count > 0)
        {
            foreach (var silo in joined)
            {
                await WaitForJoinedSiloAsync(silo, stopping);
            }

            var spec = state.State.Spec!;
            var active = ActiveSilos();
            var from = await Task.WhenAll(Stages(spec).Select(s => s.Grain.MoveToAsync(Expected(active, spec, s))));
            logger.LogInformation("Run {Run}: silo(s) {Silos} joined; {Count} stages spread from {From} silo(s) over {To} at step {Step}",
                RunId, string.Join(", ", joined), from.Length, from.Distinct().Count(), active.Length, step);
        }

        var joinedText = joined.Count == 1 ? $"silo {joined[0]} joined" : $"silos {string.Join(", ", joined)} joined";
        var cause = (leaving, joined.Count) switch
        {
            (not null, > 0) => $"silo {leaving} left and {joinedText} the cluster",
            (not null, _) => $"silo {leaving} left the cluster",
            _ => $"{joinedText} the cluster",
        };
        var resumed = await RecoverAsync(cause, step, requested, stopping);
        if (joined.Count > 0)
        {
            await PlaceAsExpectedAsync(resumed, stopping);
        }

        return resumed;
    }

    /// <summary>
    /// After the stages were moved and initialised again, a safety net: a stage found on another silo than
    /// <see cref="StagePlacementDirector.Choose"/> gives over the active silos this silo sees is moved there again and
    /// initialised, for up to <see cref="PlacementSettleTime"/>, so the new silo gets its share; the stages stay where
    /// they are after that.
    /// </summary>
    private async Task PlaceAsExpectedAsync(long step, CancellationToken stopping)
    {
        var spec = state.State.Spec!;
        var waited = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            var active = ActiveSilos();
            var stages = Stages(spec).ToArray();
            var actual = await Task.WhenAll(stages.Select(s => s.Grain.GetSiloAsync()));
            var misplaced = stages.Zip(actual)
                .Where(p => Expected(active, spec, p.First).ToString() != p.Second)
                .Select(p => p.First)
                .ToArray();
            if (misplaced.Length == 0)
            {
                return;
            }

            if (waited.Elapsed > PlacementSettleTime)
            {
                logger.LogWarning("Run {Run}: {Count} stage(s) are still not where placement expects them after {Seconds:F0} s; they stay where they are", RunId, misplaced.Length, waited.Elapsed.TotalSeconds);
                return;
            }

            logger.LogInformation("Run {Run}: {Count} stage(s) are not where placement expects them; moving them again (attempt {Attempt})", RunId, misplaced.Length, attempt);
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500 * attempt, 2000)), stopping);
            await Task.WhenAll(misplaced.Select(s => s.Grain.MoveToAsync(Expected(active, spec, s))));
            await InitializeAllAsync(spec, step);
        }
    }

    /// <summary>Waits (up to <see cref="RecoveryTimeout"/>) until this silo's view of the cluster holds the joined silo as active (the placement hints come from that view).</summary>
    private async Task WaitForJoinedSiloAsync(string joined, CancellationToken stopping)
    {
        var silo = SiloAddress.FromParsableString(joined);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < RecoveryTimeout)
        {
            stopping.ThrowIfCancellationRequested();
            var member = membership.CurrentSnapshot.GetSiloStatus(silo);
            if (member == SiloStatus.Active)
            {
                return;
            }

            if (member is SiloStatus.ShuttingDown or SiloStatus.Stopping or SiloStatus.Dead)
            {
                logger.LogInformation("Run {Run}: silo {Silo} left again before its stages moved", RunId, joined);
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), stopping);
        }

        logger.LogWarning("Run {Run}: silo {Silo} is still not active here after {Seconds:F0} s; the stages move to the silos this silo sees", RunId, joined, waited.Elapsed.TotalSeconds);
    }

    /// <summary>Waits (up to <see cref="RecoveryTimeout"/>) until a leaving silo is no longer active.</summary>
    private async Task WaitForLeavingSiloAsync(string leaving, CancellationToken stopping)
    {
        var waited = Stopwatch.StartNew();
        var management = GrainFactory.GetGrain<IManagementGrain>(0);
        while (waited.Elapsed < RecoveryTimeout)
        {
            stopping.ThrowIfCancellationRequested();
            try
            {
                var active = await management.GetHosts(onlyActive: true);
                if (!active.Keys.Any(silo => silo.ToParsableString() == leaving))
                {
                    break;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogInformation("Run {Run} waits for silo {Silo} to leave: {Error}", RunId, leaving, e.Message);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), stopping);
        }

        logger.LogInformation("Run {Run}: silo {Silo} left after {Seconds:F1} s; its stages start again on the silos that remain", RunId, leaving, waited.Elapsed.TotalSeconds);
    }

    public Task<RunStatus> RollBackAsync()
    {
        if (!Active || _loop is null)
        {
            throw new InvalidOperationException($"Run '{RunId}' is {state.State.Phase.ToString().ToLowerInvariant()}: only a running run can roll back.");
        }

        _rollBackRequested = true;
        return Task.FromResult(Status());
    }

    public Task<IReadOnlyList<StepMetrics>> GetHistoryAsync(long afterStep) =>
        Task.FromResult<IReadOnlyList<StepMetrics>>([.. state.State.History.Where(m => m.Step > afterStep)]);

    public Task<IReadOnlyList<TraceSpan>> GetTraceAsync() =>
        Task.FromResult<IReadOnlyList<TraceSpan>>([.. _trace.Snapshot().Select(TraceSpanConversion.ToSpan)]);

    public Task EnsureRunningAsync()
    {
        if (Active && _loop is null && !_starting)
        {
            // This activation is new (the run's silo was lost): continue from the last consistent checkpoint.
            StartLoop(resume: true);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<NamedTensor>> GetParametersAsync()
    {
        var spec = state.State.Spec ?? throw new InvalidOperationException($"Run '{RunId}' has never started.");
        return RunLayout.WholeModelAsync(GrainFactory, RunId, spec.Stages);
    }

    public Task<IReadOnlyList<EmbeddingView>> GetEmbeddingSnapshotsAsync() =>
        Task.FromResult<IReadOnlyList<EmbeddingView>>([.. state.State.EmbeddingSnapshots]);

    /// <summary>
    /// Orleans can deactivate this activation while its loop runs: on a silo's shutdown, or when the silo that held its
    /// directory entry dies (seen in the real-process failover test). The supervisor then starts a new activation, which
    /// resumes from the checkpoint; this loop must stop driving the stages, and must not record the run as stopped.
    /// </summary>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating = true;
        if (_stopping is { } stopping)
        {
            await stopping.CancelAsync();
        }

        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    private void StartLoop(bool resume)
    {
        _stopping = new CancellationTokenSource();
        _loop = RunLoopAsync(resume, _stopping.Token);
    }

    private async Task RunLoopAsync(bool resume, CancellationToken stopping)
    {
        var spec = state.State.Spec!;
        try
        {
            long step;
            if (resume)
            {
                var detected = DateTimeOffset.UtcNow;
                step = await RecoverAsync("the run's grain was reactivated on another silo", state.State.Step, detected, stopping);
            }
            else if (spec.ResumeFrom is not null)
            {
                step = await ContinueFromAsync(spec);
            }
            else
            {
                await InitializeAllAsync(spec, restoreStep: null);
                step = 0;
                if (spec.InitFrom is not null)
                {
                    // The initial weights become the checkpoint of step 0, so a rollback never needs the version again.
                    await ForEachStage(spec, grain => grain.SaveCheckpointAsync(0));
                    state.State.LastCheckpointStep = 0;
                    await state.WriteStateAsync();
                }
            }

            state.State.Phase = RunPhase.Running;
            while (step < spec.Steps)
            {
                stopping.ThrowIfCancellationRequested();
                if (_rollBackRequested)
                {
                    _rollBackRequested = false;
                    step = await RecoverAsync(RollBackCause, step, DateTimeOffset.UtcNow, stopping);
                    continue;
                }

                StepMetrics metrics;
                var checkpoint = spec.CheckpointInterval > 0 && ((step + 1) % spec.CheckpointInterval == 0 || step + 1 == spec.Steps);
                TaskCompletionSource<long>? requested = null;
                try
                {
                    // Before the step: step 0, every EvalInterval steps, and the checkpoint a recovery resumed from (once).
                    Keep(await SnapshotAsync(spec, step));
                    metrics = await RunStepAsync(spec, step);
                    requested = _checkpointNow; // asked for while the step ran (a silo about to leave): saved now, not at the next interval
                    checkpoint |= requested is not null;
                    if (checkpoint)
                    {
                        // Inside the try: a stage lost while saving rolls back like one lost mid-step (every stage still
                        // holds the last consistent checkpoint as Current or Previous). Outside it, a silo killed during a
                        // save failed the whole run (found by the real-process failover test).
                        await ForEachStage(spec, grain => grain.SaveCheckpointAsync(step + 1));
                    }
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Run {Run} failed at step {Step}; rolling back to step {Checkpoint}", RunId, step, state.State.LastCheckpointStep);
                    step = await RecoverAsync(e.Message, step, DateTimeOffset.UtcNow, stopping);
                    continue;
                }

                step++;
                state.State.Step = step;
                RunHistory.Append(state.State.History, metrics);
                if (checkpoint)
                {
                    state.State.LastCheckpointStep = step; // only now: every stage holds this step
                    await state.WriteStateAsync();
                    if (requested is not null)
                    {
                        _checkpointNow = ReferenceEquals(_checkpointNow, requested) ? null : _checkpointNow;
                        requested.TrySetResult(step);
                        var leaving = Interlocked.Exchange(ref _leavingSilo, null);
                        var joined = Interlocked.Exchange(ref _joinedSilos, []);
                        if ((leaving is not null || joined.Count > 0) && step < spec.Steps)
                        {
                            step = await MoveStagesAsync(leaving, joined, step, stopping);
                        }
                    }
                }
            }

            await KeepFinalSnapshotAsync(spec, step);
            state.State.Phase = RunPhase.Completed;
            await state.WriteStateAsync();
            await GrainFactory.GetGrain<ITrainingRegistryGrain>(TrainingStorage.RegistryKey).RemoveAsync(RunId);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            if (!_deactivating)
            {
                state.State.Phase = RunPhase.Stopped;
                await state.WriteStateAsync();
            }
        }
        catch (Exception e) when (_deactivating)
        {
            logger.LogInformation("Run {Run}'s loop ended with its deactivated activation ({Error}); a new one resumes it", RunId, e.Message);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Run {Run} failed", RunId);
            state.State.Phase = RunPhase.Failed;
            state.State.Error = e.Message;
            await state.WriteStateAsync();
            await GrainFactory.GetGrain<ITrainingRegistryGrain>(TrainingStorage.RegistryKey).RemoveAsync(RunId);
        }
        finally
        {
            _loop = null;
            (_leavingSilo, _joinedSilos, _moveRequestedAt) = (null, [], null); // a later start of this run owes nothing to them
            Interlocked.Exchange(ref _checkpointNow, null)?.TrySetResult(state.State.LastCheckpointStep);
        }
    }

    /// <summary>One step across every stage and replica; returns its metrics (the stages have updated their weights).</summary>
    private async Task<StepMetrics> RunStepAsync(TrainingRunSpec spec, long step)
    {
        var started = Stopwatch.GetTimestamp();
        var stages = Stages(spec).Select(s => s.Grain).ToArray();
        // A deactivated activation must not update the weights.
        var (decision, reports, reduces, updates) = await EngineStep.RunAsync(
            stages, new StepRule(TrainingRunSpecs.Reference(spec)), step, () => _stopping?.Token.ThrowIfCancellationRequested());
        double? validation = null;
        if (spec.EvalInterval > 0 && ((step + 1) % spec.EvalInterval == 0 || step + 1 == spec.Steps))
        {
            validation = await GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(RunId, 0, 0, spec.Stages)).ValidateAsync(spec.EvalBatches);
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var metrics = StepAccounting.Metrics(spec, step, decision, validation, seconds, reports, reduces, updates, DateTimeOffset.UtcNow);
        foreach (var span in StepAccounting.Spans(reports, reduces, updates))
        {
            _trace.Record(TraceSpanConversion.ToEvent(span));
        }

        _tokensPerSecond = metrics.TokensPerSecond;
        meter.RecordStep(RunId, metrics, StepAccounting.Tokens(spec));
        try
        {
            await events.PublishAsync(new TrainingStepCompleted(RunId, metrics));
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Could not publish step {Step} of run {Run}", step + 1, RunId); // the history still has it
        }

        return metrics;
    }

    /// <summary>
    /// Rolls every stage back to the last consistent checkpoint (or to the seed's initial weights when there is none),
    /// retrying while the cluster settles (calls to a lost silo's grains fail until membership declares it dead).
    /// Returns the step to continue from.
    /// </summary>
    private async Task<long> RecoverAsync(string cause, long failedAt, DateTimeOffset detected, CancellationToken stopping)
    {
        var spec = state.State.Spec!;
        state.State.Phase = RunPhase.Recovering;
        var checkpoint = state.State.LastCheckpointStep;
        var waited = Stopwatch.StartNew();
        while (true)
        {
            stopping.ThrowIfCancellationRequested();
            try
            {
                await InitializeAllAsync(spec, checkpoint >= 0 ? checkpoint : null);
                break;
            }
            catch (Exception e) when (waited.Elapsed < RecoveryTimeout && !stopping.IsCancellationRequested)
            {
                logger.LogInformation("Run {Run} waits for the cluster to settle: {Error}", RunId, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stopping);
            }
        }

        var resumeFrom = Math.Max(0, checkpoint);
        state.State.Step = resumeFrom;
        RunHistory.RollBack(state.State.History, state.State.EmbeddingSnapshots, resumeFrom);
        state.State.Recoveries.Add(new RecoveryRecord(failedAt, resumeFrom, cause, detected, (DateTimeOffset.UtcNow - detected).TotalSeconds));
        state.State.Phase = RunPhase.Running;
        meter.RecordRecovery(RunId);
        await state.WriteStateAsync();
        return resumeFrom;
    }

    private async Task InitializeAllAsync(TrainingRunSpec spec, long? restoreStep)
    {
        await Task.WhenAll(Enumerable.Range(0, spec.Replicas).Select(r =>
            GrainFactory.GetGrain<IDataShardGrain>(RunLayout.ShardKey(RunId, r)).InitializeAsync(spec, r)));
        var active = ActiveSilos();
        await Task.WhenAll(Stages(spec).Select(s =>
        {
            // Where this stage belongs among the silos this silo sees: placement takes the hint wherever it decides.
            if (active.Length > 0)
            {
                RequestContext.Set(IPlacementDirector.PlacementHintKey, Expected(active, spec, s));
            }

            try
            {
                return s.Grain.InitializeAsync(new StageAssignment(RunId, s.Stage, s.Replica, spec), restoreStep);
            }
            finally
            {
                RequestContext.Remove(IPlacementDirector.PlacementHintKey);
            }
        }));
    }

    /// <summary>The silo <see cref="StagePlacementDirector.Choose"/> gives a stage among <paramref name="active"/>.</summary>
    private SiloAddress Expected(SiloAddress[] active, TrainingRunSpec spec, (int Replica, int Stage, IPipelineStageGrain Grain) stage) =>
        StagePlacementDirector.Choose(active, RunLayout.StageKey(RunId, stage.Replica, stage.Stage, spec.Stages));

    private SiloAddress[] ActiveSilos() =>
        [.. membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress)];

    private Task ForEachStage(TrainingRunSpec spec, Func<IPipelineStageGrain, Task> action) =>
        Task.WhenAll(Stages(spec).Select(s => action(s.Grain)));

    private IEnumerable<(int Replica, int Stage, IPipelineStageGrain Grain)> Stages(TrainingRunSpec spec) =>
        from replica in Enumerable.Range(0, spec.Replicas)
        from stage in Enumerable.Range(0, spec.Stages)
        select (replica, stage, GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(RunId, replica, stage, spec.Stages)));

    /// <summary>
    /// The embeddings view of replica 0's first stage at <paramref name="step"/>, when one is due and not kept yet. It only
    /// reads the weights between steps (the stage grain does not interleave it with a step), so training is unchanged.
    /// </summary>
    private async Task<EmbeddingView?> SnapshotAsync(TrainingRunSpec spec, long step)
    {
        if (!SnapshotPolicy.Due(spec, step) || state.State.EmbeddingSnapshots.Exists(v => v.Step == step))
        {
            return null;
        }

        return await GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(RunId, 0, 0, spec.Stages)).SnapshotEmbeddingsAsync(step);
    }

    /// <summary>The last step's snapshot. Losing it (the first stage's silo died just now) does not fail a finished run.</summary>
    private async Task KeepFinalSnapshotAsync(TrainingRunSpec spec, long step)
    {
        try
        {
            Keep(await SnapshotAsync(spec, step));
        }
        catch (Exception e) when (!_deactivating)
        {
            logger.LogWarning(e, "Run {Run} finished without its final embeddings snapshot", RunId);
        }
    }

    private void Keep(EmbeddingView? snapshot)
    {
        if (snapshot is not null)
        {
            state.State.EmbeddingSnapshots = SnapshotPolicy.Keep(state.State.EmbeddingSnapshots, snapshot);
        }
    }

    private RunStatus Status()
    {
        var s = state.State;
        var last = s.History.Count > 0 ? s.History[^1] : null;
        return new RunStatus(
            RunId, s.Phase, s.Step, s.Spec?.Steps ?? 0, last?.Loss,
            s.History.LastOrDefault(m => m.ValidationLoss is not null)?.ValidationLoss,
            _tokensPerSecond ?? last?.TokensPerSecond, s.Recoveries.Count, s.LastCheckpointStep, s.Error, s.Spec, s.StartedAt,
            [.. s.Recoveries]);
    }
}
