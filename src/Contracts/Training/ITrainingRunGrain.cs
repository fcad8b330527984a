using InsideLLMs.Distributed.Contracts.Inference;

namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// One training run (key: the run id). Owns the spec, the step loop and the metrics history; drives the stage
/// grains through each step; takes consistent checkpoints and rolls back to the last one when a stage fails.
/// </summary>
public interface ITrainingRunGrain : IGrainWithStringKey
{
    /// <summary>Validates the spec (a clear error before anything starts) and starts the step loop.</summary>
    Task<RunStatus> StartAsync(TrainingRunSpec spec);

    Task<RunStatus> StopAsync();

    /// <summary>
    /// Saves a consistent checkpoint at the end of the step in flight (every stage of every replica) and returns its step,
    /// so a silo about to leave costs no step. With <paramref name="leavingSilo"/> (a silo address as Orleans prints it),
    /// the run then holds its next step until that silo has left the cluster and starts its stages again from this
    /// checkpoint on the silos that remain: the leaving silo's grains are idle, so they deactivate at once, and no step is
    /// computed twice. A run that is not running returns its last checkpoint's step at once.
    /// </summary>
    [ResponseTimeout("00:02:00")]
    Task<long> CheckpointNowAsync(string? leavingSilo = null);

    /// <summary>
    /// Scale-out: <paramref name="joinedSilo"/> (a silo address as Orleans prints it) has joined the cluster. At the end of
    /// the step in flight the run saves a consistent checkpoint, waits until this silo's view of the cluster holds the new
    /// silo, releases every stage and starts them again from that checkpoint where placement puts them now, so the new
    /// silo takes a share of the stages at the next step boundary. The run keeps its step; the move is recorded like a
    /// recovery (cause "silo ... joined"). Returns the checkpoint's step; a run that is not running returns its last
    /// checkpoint's step at once.
    /// </summary>
    [ResponseTimeout("00:02:00")]
    Task<long> SpreadAsync(string joinedSilo);

    /// <summary>
    /// Asks a running run to roll back to its last checkpoint before its next step, as it does by itself when a stage
    /// fails; the recovery is recorded with the cause "rollback requested". Returns at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">The run is not running.</exception>
    Task<RunStatus> RollBackAsync();

    Task<RunStatus> GetStatusAsync();

    /// <summary>Metrics of the steps after <paramref name="afterStep"/>, oldest first.</summary>
    Task<IReadOnlyList<StepMetrics>> GetHistoryAsync(long afterStep);

    /// <summary>The recorded operations of the last steps (the run keeps a bounded window).</summary>
    Task<IReadOnlyList<TraceSpan>> GetTraceAsync();

    /// <summary>Wakes the run after its silo was lost: a running run resumes its loop from the last checkpoint.</summary>
    Task EnsureRunningAsync();

    /// <summary>The whole model's parameters as the stages of replica 0 hold them now (the tied matrix once, as wte.weight).</summary>
    Task<IReadOnlyList<NamedTensor>> GetParametersAsync();

    /// <summary>
    /// The embeddings views the run kept while training, oldest first: at step 0, every EvalInterval steps and at the
    /// end (a bounded set: past its capacity every other snapshot between the first and the latest is dropped).
    /// </summary>
    Task<IReadOnlyList<EmbeddingView>> GetEmbeddingSnapshotsAsync();
}
