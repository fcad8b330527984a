using System.Diagnostics;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Grains.Rlhf;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;
using InsideLLMs.Distributed.Maths.Training;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// One stage of one replica. Coordinates only: the maths runs in a <see cref="StageWorker"/> on the silo's compute
/// threads; activations, gradients and all-reduce chunks arrive as messages through interleaving Receive calls.
/// </summary>
[StagePlacement] // one stage per silo in turn: see StagePlacement
public sealed class PipelineStageGrain(
    [PersistentState("stage", TrainingStorage.ProviderName)] IPersistentState<StageCheckpointState> state,
    ComputeScheduler compute,
    DatasetCache datasets,
    ILocalSiloDetails silo,
    ILogger<PipelineStageGrain> logger) : Grain, IPipelineStageGrain, IDisposable
{
    // A run keeps up to SnapshotPolicy.Capacity (50) snapshots: 50 x 1,024 points is about the size of its metrics history.
    private const int MaxSnapshotPoints = 1024;

    // Well inside the caller's 30 s response timeout, so a rollback is not retried because of our own wait.
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _initializing = new(1, 1);

    // Bumped by every initialisation: a step started before it must not take messages meant for the steps after it.
    private long _generation;

    private readonly StageMailboxes _mail = new();
    private Owned<StageWorker>? _worker;
    private StageSpec? _stage; // the worker's slice of the model (managed: read without a lease)
    private GptConfig? _config;
    private StageAssignment? _assignment;
    private PipelineSchedule? _schedule;
    private Task _inFlight = Task.CompletedTask;

    private string Key => this.GetPrimaryKeyString();

    // A peer that takes longer than this to send is gone; the run's rollback normally ends the wait much sooner.
    private TimeSpan MessageTimeout => TimeSpan.FromSeconds(compute.Options.MessageTimeoutSeconds);

    private string SiloName => silo.SiloAddress.ToString();

    public async Task InitializeAsync(StageAssignment assignment, long? restoreStep)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        RequestContext.Remove(IPlacementDirector.PlacementHintKey); // the run's hint placed this stage, not the grains it calls
        // A retried rollback can arrive while the previous one still runs (its caller timed out): one at a time.
        await _initializing.WaitAsync();
        try
        {
            const string reason = "the stage is being re-initialised (the run is rolling back)";
            _generation++;
            _mail.Close(reason);
            // Let an aborted step unwind before its worker is replaced. Its waits now fail at once; a call it makes to a
            // silo that just died can still take until membership declares that silo dead, so the wait is bounded. Replacing
            // the worker while the step still runs is safe: the old one is only retired, and freed after its last operation.
            var aborted = _inFlight;
            if (await Task.WhenAny(aborted, Task.Delay(AbortGrace)) != aborted)
            {
                logger.LogWarning("Stage {Stage}: the aborted step is still running after {Seconds} s; replacing its worker anyway", Key, AbortGrace.TotalSeconds);
            }

            byte[]? checkpoint = null;
            if (restoreStep is { } step)
            {
                await state.ReadStateAsync();
                checkpoint = step == state.State.CurrentStep ? state.State.Current
                    : step == state.State.PreviousStep ? state.State.Previous
                    : throw new InvalidOperationException($"Stage {Key} has no checkpoint of step {step} (it has {state.State.CurrentStep} and {state.State.PreviousStep}).");
            }

            var initial = checkpoint is null ? await InitialParametersAsync(assignment.Spec) : null;
            await ReplaceWorkerAsync(assignment, checkpoint, initial);
            if (state.State.Assignment != assignment)
            {
                state.State.Assignment = assignment;
                if (restoreStep is null)
                {
                    state.State.CurrentStep = state.State.PreviousStep = -1;
                    state.State.Current = state.State.Previous = null;
                }

                await state.WriteStateAsync();
            }

            logger.LogInformation("Stage {Stage} initialised at step {Step}", Key, restoreStep ?? 0);
        }
        finally
        {
            _mail.Open();
            _initializing.Release();
        }
    }

    /// <summary>
    /// Orleans deactivates a stage when the silo that held its directory entry dies, even though this silo lives; the
    /// deactivation waits for requests in progress, and a step waiting for a message from the dead silo would hold it,
    /// and every call queued for the stage's next activation (the run's rollback among them), until its message timeout.
    /// Ending the waits now lets the step fail and the deactivation finish at once.
    /// </summary>
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        var why = $"the stage is deactivating ({reason.Description})";
        _generation++;
        _mail.Close(why);
        logger.LogInformation("Stage {Stage} deactivating: {Reason}", Key, reason.Description);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    public Task<StageStepReport> RunStepAsync(long step)
    {
        var run = RunStepCoreAsync(step);
        _inFlight = run;
        return run;
    }

    public Task ReceiveActivationAsync(ActivationMessage message)
    {
        _mail.Activations.Deliver((message.Step, message.MicroBatch), message);
        return Task.CompletedTask;
    }

    public Task ReceiveGradientAsync(GradientMessage message)
    {
        _mail.Gradients.Deliver((message.Step, message.MicroBatch), message);
        return Task.CompletedTask;
    }

    public Task ReceiveChunkAsync(ChunkMessage message)
    {
        _mail.Chunks.Deliver((message.Step, message.Round), message);
        return Task.CompletedTask;
    }

    public Task ReceiveTiedGradientAsync(TiedGradientMessage message)
    {
        _mail.Tied.Deliver(message.Step, message);
        return Task.CompletedTask;
    }

    public Task<StageReduceReport> ReduceGradientsAsync(long step)
    {
        var reduce = ReduceCoreAsync(step);
        _inFlight = reduce;
        return reduce;
    }

    public async Task<StageUpdateReport> ApplyUpdateAsync(long step, double clipCoefficient, double learningRate)
    {
        var (assignment, worker) = (Assignment(), Worker());
        var started = Now();
        var update = await compute.RunAsync(worker, w => w.Update(clipCoefficient, learningRate));
        return new StageUpdateReport(
            assignment.Stage, assignment.Replica, update.ChangeSumOfSquares, update.ParameterSumOfSquares,
            Span(TraceOps.Optimizer, step, TraceEvent.NoMicroBatch, started, Now()));
    }

    public async Task LoadWeightsAsync(IReadOnlyList<NamedTensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var parameters = weights.ToDictionary(p => p.Name, p => (p.Tensor.Data, p.Tensor.Shape), StringComparer.Ordinal);
        await compute.RunAsync(Worker(), w => w.LoadInitialParameters(parameters));
    }

    public async Task SaveCheckpointAsync(long step)
    {
        var worker = Worker();
        var bytes = await compute.RunAsync(worker, w => w.SaveState());
        if (state.State.CurrentStep != step)
        {
            state.State.PreviousStep = state.State.CurrentStep;
            state.State.Previous = state.State.Current;
        }

        state.State.CurrentStep = step;
        state.State.Current = bytes;
        await state.WriteStateAsync();
    }

    public async Task<byte[]> GetCheckpointAsync(long step)
    {
        await state.ReadStateAsync();
        return (step == state.State.CurrentStep ? state.State.Current : step == state.State.PreviousStep ? state.State.Previous : null)
            ?? throw new InvalidOperationException($"Stage {Key} has no checkpoint of step {step} (it has {state.State.CurrentStep} and {state.State.PreviousStep}).");
    }

    public async Task SeedCheckpointAsync(StageAssignment assignment, long step, byte[] checkpoint)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        ArgumentNullException.ThrowIfNull(checkpoint);
        state.State.Assignment = assignment;
        state.State.CurrentStep = step;
        state.State.Current = checkpoint;
        state.State.PreviousStep = -1;
        state.State.Previous = null;
        await state.WriteStateAsync();
    }

    public Task<string> MoveToAsync(SiloAddress target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var from = SiloName;
        if (!target.Equals(silo.SiloAddress))
        {
            // The migration takes its destination from this call's request context: the placement director follows the hint.
            RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
            MigrateOnIdle();
            logger.LogInformation("Stage {Stage} moves from {From} to {To}", Key, from, target);
        }

        return Task.FromResult(from);
    }

    public Task<string> GetSiloAsync() => Task.FromResult(SiloName);

    public async Task<double> ValidateAsync(int? maxBatches)
    {
        var (assignment, worker, stage) = (Assignment(), Worker(), Stage());
        if (!stage.IsFirst)
        {
            throw new InvalidOperationException("Validation starts at the first stage.");
        }

        var shard = GrainFactory.GetGrain<IDataShardGrain>(RunLayout.ShardKey(assignment.RunId, assignment.Replica));
        var tally = new ValidationTally();
        for (var index = 0; maxBatches is null || index < maxBatches; index++)
        {
            var batch = await shard.GetValidationBatchAsync(index, assignment.Spec.BatchSize);
            if (batch is null)
            {
                break;
            }

            long[] shape = [batch.BatchSize, batch.BlockSize];
            var tokens = TokenBytes.To(batch.Inputs);
            var targetIds = TokenBytes.To(batch.Targets);
            var (hidden, hiddenShape, sum, count) = await compute.RunAsync(worker, w => w.Evaluate(tokens, null, shape, targetIds));
            var result = stage.IsLast
                ? new ValidationResult(sum, count)
                : await Next(assignment).ForwardValidationAsync(new TensorMessage(hidden!, hiddenShape!), batch.Targets);
            tally = tally.Add(result.LossSum, result.Targets);
        }

        return tally.Mean;
    }

    public async Task<ValidationResult> ForwardValidationAsync(TensorMessage hidden, byte[] targets)
    {
        var (assignment, worker) = (Assignment(), Worker());
        var targetIds = TokenBytes.To(targets);
        var (output, shape, sum, count) = await compute.RunAsync(worker, w => w.Evaluate(null, hidden.Data, hidden.Shape, targetIds));
        return Stage().IsLast
            ? new ValidationResult(sum, count)
            : await Next(assignment).ForwardValidationAsync(new TensorMessage(output!, shape!), targets);
    }

    public async Task<IReadOnlyList<NamedTensor>> GetParametersAsync()
    {
        if (_worker is null && state.State.Assignment is { } assignment && state.State.Current is { } latest)
        {
            await ReplaceWorkerAsync(assignment, latest); // reactivated after idling: the last checkpoint is the state
        }

        var worker = Worker();
        var parameters = await compute.RunAsync(worker, w => w.Parameters());
        return [.. parameters.Select(p => new NamedTensor(p.Name, new TensorMessage(p.Data, p.Shape)))];
    }

    public async Task<EmbeddingView?> SnapshotEmbeddingsAsync(long step)
    {
        var (assignment, worker) = (Assignment(), Worker());
        if (!Stage().IsFirst)
        {
            throw new InvalidOperationException("The token embedding table is on the first stage.");
        }

        var embeddings = new LexiconEmbeddings(datasets.Get(assignment.Spec).Vocabulary, LexiconEmbeddings.LexiconOf(assignment.Spec.Corpus));
        if (embeddings.PointCount(_config!.VocabularySize) > MaxSnapshotPoints)
        {
            return null;
        }

        return await compute.RunAsync(worker, w =>
        {
            using var scope = TorchSharp.torch.NewDisposeScope(); // the table's wrapper
            return embeddings.View(w.Model.TokenEmbedding!, step);
        });
    }

    private async Task<StageStepReport> RunStepCoreAsync(long step)
    {
        var generation = _generation;
        var (assignment, worker, schedule, stage) = (Assignment(), Worker(), _schedule!, Stage());
        var tally = new StageStepTally();
        // Sends are not awaited one by one: the next operation computes while a message is on its way (the receiver only
        // files it in its mailbox). Whatever is still in flight at the end is waited for and counted as messaging.
        var sends = new List<Task>();
        _mail.ForgetBefore(step);
        await compute.RunAsync(worker, w => w.BeginStep());
        var shard = stage.IsFirst || stage.IsLast
            ? GrainFactory.GetGrain<IDataShardGrain>(RunLayout.ShardKey(assignment.RunId, assignment.Replica))
            : null;

        foreach (var op in schedule.OpsOf(stage.Index))
        {
            var micro = op.MicroBatch;
            if (op.Kind == PipelineOpKind.Forward)
            {
                var batch = shard is null ? null : await shard.GetMicroBatchAsync(step, micro);
                long[]? tokens = null;
                byte[]? hidden = null;
                long[] shape;
                if (stage.IsFirst)
                {
                    tokens = TokenBytes.To(batch!.Inputs);
                    shape = [batch.BatchSize, batch.BlockSize];
                }
                else
                {
                    var (message, bubble, transit) = await WaitAsync(_mail.Activations, (step, micro), m => m.SentAtMicroseconds, generation);
                    tally.Waited(bubble, transit);
                    hidden = message.Hidden.Data;
                    shape = message.Hidden.Shape;
                }

                var targets = stage.IsLast ? TokenBytes.To(batch!.Targets) : null;
                var stepTargets = stage.IsLast ? batch!.StepTargetCount : 0;
                var ppo = stage.IsLast ? batch!.Ppo?.ToTokens() : null;
                var started = Now();
                var (output, outputShape, loss, weight, stashed) = await compute.RunAsync(worker, w =>
                {
                    var (hiddenOut, hiddenShape, microLoss, microWeight) = w.Forward(micro, tokens, hidden, shape, targets, stepTargets, ppo);
                    return (hiddenOut, hiddenShape, microLoss, microWeight, w.StashedCount);
                });
                tally.Computed(Span(TraceOps.Forward, step, micro, started, Now()));
                tally.Stashed(stashed);
                if (stage.IsLast)
                {
                    tally.Loss(loss, weight);
                }
                else
                {
                    var sendStarted = Now();
                    sends.Add(SendAsync(
                        Next(assignment).ReceiveActivationAsync(new ActivationMessage(step, micro, new TensorMessage(output!, outputShape!), sendStarted)),
                        step, micro, sendStarted, tally.Trace));
                    tally.SentActivation(output!.Length);
                }
            }
            else
            {
                byte[]? outputGradient = null;
                if (!stage.IsLast)
                {
                    var (message, bubble, transit) = await WaitAsync(_mail.Gradients, (step, micro), m => m.SentAtMicroseconds, generation);
                    tally.Waited(bubble, transit);
                    outputGradient = message.Gradient.Data;
                }

                var started = Now();
                var (inputGradient, inputShape) = await compute.RunAsync(worker, w => w.Backward(micro, outputGradient));
                tally.Computed(Span(TraceOps.Backward, step, micro, started, Now()));
                if (!stage.IsFirst)
                {
                    var sendStarted = Now();
                    sends.Add(SendAsync(
                        Previous(assignment).ReceiveGradientAsync(new GradientMessage(step, micro, new TensorMessage(inputGradient!, inputShape!), sendStarted)),
                        step, micro, sendStarted, tally.Trace));
                    tally.SentGradient(inputGradient!.Length);
                }
            }
        }

        var drainStarted = Now();
        await Task.WhenAll(sends);
        tally.Drained((Now() - drainStarted) / 1e6);
        var report = tally.Report(stage.Index, assignment.Replica, SiloName);
        if (stage.IsLast && TrainingRunSpecs.Objective(assignment.Spec) == ObjectiveKind.PpoPolicy)
        {
            var sums = await compute.RunAsync(worker, w => w.PpoStatistics);
            report = report with { PpoStatisticSums = [sums.ClippedTokens, sums.KlSum, sums.EntropySum, sums.Tokens] };
        }

        return report;
    }

    /// <summary>
    /// Records a send's span when it completes. A send that fails ends this stage's waits at once: the peer will never
    /// answer a message it did not get, and the run's rollback should not wait for the message timeout.
    /// </summary>
    private async Task SendAsync(Task call, long step, int micro, long started, List<TraceSpan> trace)
    {
        try
        {
            await call;
            trace.Add(Span(TraceOps.Send, step, micro, started, Now()));
        }
        catch (Exception e)
        {
            var reason = $"sending step {step} micro-batch {micro} failed: {e.Message}";
            _mail.FailSchedule(reason);
            throw;
        }
    }

    private async Task<StageReduceReport> ReduceCoreAsync(long step)
    {
        var generation = _generation;
        var (assignment, worker, stage) = (Assignment(), Worker(), Stage());
        var spec = assignment.Spec;
        var trace = new List<TraceSpan>();
        var started = Stopwatch.GetTimestamp();
        long allReduceBytes = 0, tiedBytes = 0;
        _mail.ForgetBefore(step);
        var flat = await compute.RunAsync(worker, w => w.FlattenGradient());
        if (spec.Replicas > 1)
        {
            var ringStarted = Now();
            var ring = new RingAllReduce(spec.Replicas, flat.Length);
            var next = GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(assignment.RunId, (assignment.Replica + 1) % spec.Replicas, stage.Index, spec.Stages));
            foreach (var round in ring.Rounds)
            {
                // Each round this replica sends one chunk on and receives one: the plan fixes who adds what, in order.
                var send = round.Single(t => t.Sender == assignment.Replica);
                var payload = RingAllReduce.Payload(send, flat);
                await next.ReceiveChunkAsync(new ChunkMessage(step, send.Round, payload));
                allReduceBytes += payload.Length;
                var receive = round.Single(t => t.Receiver == assignment.Replica);
                Current(generation);
                var chunk = await _mail.Chunks.ReceiveAsync((step, receive.Round), MessageTimeout);
                RingAllReduce.Receive(receive, chunk.Data, flat);
            }

            await compute.RunAsync(worker, w => w.LoadGradient(flat));
            trace.Add(Span(TraceOps.AllReduce, step, TraceEvent.NoMicroBatch, ringStarted, Now()));
        }

        if (spec.Stages > 1 && (stage.IsFirst || stage.IsLast) && TrainingObjective.HeadFor(TrainingRunSpecs.Objective(spec)) == StageHead.Language)
        {
            var mine = await compute.RunAsync(worker, w => w.TiedGradient());
            var other = GrainFactory.GetGrain<IPipelineStageGrain>(
                RunLayout.StageKey(assignment.RunId, assignment.Replica, stage.IsFirst ? spec.Stages - 1 : 0, spec.Stages));
            var embeddingShape = new long[] { _config!.VocabularySize, _config.EmbeddingSize };
            await other.ReceiveTiedGradientAsync(new TiedGradientMessage(step, stage.IsFirst, new TensorMessage(mine, embeddingShape)));
            tiedBytes += mine.Length;
            Current(generation);
            var theirs = await _mail.Tied.ReceiveAsync(step, MessageTimeout);
            await compute.RunAsync(worker, w => w.CombineTiedGradient(theirs.Gradient.Data));
        }

        // The reduced gradient, before clipping: the global norm's share and the same squares per layer.
        var (sumOfSquares, layers) = await compute.RunAsync(worker, w => (
            w.GradientSumOfSquares(countTiedCopy: stage.IsFirst), w.LayerGradientSumsOfSquares(countTiedCopy: stage.IsFirst)));
        return new StageReduceReport(
            stage.Index, assignment.Replica, allReduceBytes, tiedBytes, (long)flat.Length * sizeof(float), sumOfSquares,
            Stopwatch.GetElapsedTime(started).TotalSeconds, trace, layers.Select(l => new LayerGradientNorm(l.Layer, l.Norm)).ToArray());
    }

    /// <summary>
    /// Waits for a message and splits the wait: until its sender sent it is bubble (the schedule had nothing for
    /// this stage yet), from then to its arrival is messaging.
    /// </summary>
    private async Task<(T Message, double Bubble, double Transit)> WaitAsync<TKey, T>(
        Mailbox<TKey, T> mailbox, TKey key, Func<T, long> sentAt, long generation) where TKey : notnull
    {
        Current(generation);
        var waitStarted = Now();
        var message = await mailbox.ReceiveAsync(key, MessageTimeout);
        var arrived = Now();
        var sent = Math.Clamp(sentAt(message), waitStarted, arrived);
        return (message, (sent - waitStarted) / 1e6, (arrived - sent) / 1e6);
    }

    /// <summary>Stops a step that an initialisation has superseded before it waits for (and takes) a new step's message.</summary>
    private void Current(long generation)
    {
        if (generation != _generation)
        {
            throw new OperationCanceledException($"Stage {Key}: this step was rolled back.");
        }
    }

    /// <summary>
    /// The weights of the version a run starts from (<see cref="TrainingRunSpec.InitFrom"/>), at the revision the run
    /// pinned when it started; null for a run that starts from its seed's weights.
    /// </summary>
    /// <exception cref="InvalidOperationException">The version was republished since the run started.</exception>
    private async Task<IReadOnlyDictionary<string, (byte[] Data, long[] Shape)>?> InitialParametersAsync(TrainingRunSpec spec)
    {
        if (spec.InitFrom is not { } name)
        {
            return null;
        }

        var version = GrainFactory.GetGrain<IModelVersionGrain>(name);
        var info = await version.GetInfoAsync();
        if (spec.InitRevision is { } pinned && info.Revision != pinned)
        {
            throw new InvalidOperationException(
                $"Version '{name}' was republished (revision {info.Revision}) after the run started from revision {pinned}; its initial weights are gone.");
        }

        var parameters = await version.GetParametersAsync();
        return parameters.ToDictionary(p => p.Name, p => (p.Tensor.Data, p.Tensor.Shape));
    }

    private async Task ReplaceWorkerAsync(
        StageAssignment assignment, byte[]? checkpoint, IReadOnlyDictionary<string, (byte[] Data, long[] Shape)>? initial = null)
    {
        var spec = assignment.Spec;
        var data = datasets.Get(spec);
        var config = TrainingRunSpecs.Model(spec, data);
        var stage = StageSpec.Partition(config, spec.Stages)[assignment.Stage];
        var options = TrainingRunSpecs.Reference(spec);
        // The old worker goes once the operations already holding it (an aborted step's last one) have run.
        _worker?.Retire();
        _worker = null;
        var worker = await compute.RunAsync(() =>
        {
            var built = new StageWorker(config, stage, options);
            try
            {
                if (checkpoint is not null)
                {
                    built.LoadState(checkpoint);
                }
                else if (initial is not null)
                {
                    built.LoadInitialParameters(initial);
                }

                return built;
            }
            catch
            {
                built.Dispose();
                throw;
            }
        });
        _worker = new Owned<StageWorker>(worker, $"stage {Key}'s worker", exclusive: true);
        (_stage, _config) = (stage, config);
        _assignment = assignment;
        _schedule = PipelineSchedule.Create(TrainingRunSpecs.Schedule(spec), spec.Stages, spec.MicroBatches);
    }

    private IPipelineStageGrain Next(StageAssignment a) =>
        GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(a.RunId, a.Replica, a.Stage + 1, a.Spec.Stages));

    private IPipelineStageGrain Previous(StageAssignment a) =>
        GrainFactory.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(a.RunId, a.Replica, a.Stage - 1, a.Spec.Stages));

    private StageAssignment Assignment() => _assignment ?? throw new InvalidOperationException($"Stage {Key} was never initialised.");

    private Owned<StageWorker> Worker() => _worker ?? throw new InvalidOperationException($"Stage {Key} has no model (not initialised, or restored after a failure).");

    private StageSpec Stage() => _stage ?? throw new InvalidOperationException($"Stage {Key} was never initialised.");

    private TraceSpan Span(string op, long step, int micro, long start, long end)
    {
        var a = Assignment();
        return new TraceSpan(Key, SiloName, a.Stage, a.Replica, micro, op, step, start, end);
    }

    internal static long Now() => DateTimeOffset.UtcNow.Ticks / 10 - DateTimeOffset.UnixEpoch.Ticks / 10;

    public void Dispose()
    {
        _worker?.Retire();
        _initializing.Dispose();
    }
}
