using InsideLLMs.Distributed.Contracts.Inference;
using Orleans.Concurrency;

namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// One pipeline stage of one replica (key: "{run}/{replica}/{stage}"): its slice of the model and its optimizer
/// state. Forward activations and backward gradients arrive as messages; the Receive methods only hand a message to
/// the waiting step, so they interleave with it.
/// </summary>
public interface IPipelineStageGrain : IGrainWithStringKey
{
    /// <summary>Builds the stage (initial weights from the seed), or restores the given checkpoint step when one is given.</summary>
    /// <remarks>Interleaves with a step in progress: it aborts that step's waits first (the run is rolling back).</remarks>
    [AlwaysInterleave]
    Task InitializeAsync(StageAssignment assignment, long? restoreStep);

    /// <summary>Runs this stage's forward and backward operations of the step, in its schedule's order.</summary>
    [ResponseTimeout("00:05:00")]
    Task<StageStepReport> RunStepAsync(long step);

    [AlwaysInterleave]
    Task ReceiveActivationAsync(ActivationMessage message);

    [AlwaysInterleave]
    Task ReceiveGradientAsync(GradientMessage message);

    /// <summary>Ring all-reduce of this stage's gradient across replicas, then the tied embedding/head exchange.</summary>
    [ResponseTimeout("00:05:00")]
    Task<StageReduceReport> ReduceGradientsAsync(long step);

    [AlwaysInterleave]
    Task ReceiveChunkAsync(ChunkMessage message);

    [AlwaysInterleave]
    Task ReceiveTiedGradientAsync(TiedGradientMessage message);

    /// <summary>Scales the gradient by the global clipping coefficient and takes one AdamW step; reports the step's size.</summary>
    Task<StageUpdateReport> ApplyUpdateAsync(long step, double clipCoefficient, double learningRate);

    /// <summary>Writes parameters and optimizer state for this step to grain storage.</summary>
    /// <summary>
    /// Replaces this stage's weights with its slice of <paramref name="weights"/> (a whole model's parameters by name: a PPO
    /// run's starting weights); the optimizer's moments stay as initialised. Call after <see cref="InitializeAsync"/>.
    /// </summary>
    [ResponseTimeout("00:02:00")]
    Task LoadWeightsAsync(IReadOnlyList<NamedTensor> weights);

    Task SaveCheckpointAsync(long step);

    /// <summary>This stage's saved state of <paramref name="step"/> (parameters and optimizer), for another layout to continue from.</summary>
    /// <exception cref="InvalidOperationException">The stage holds no checkpoint of that step.</exception>
    Task<byte[]> GetCheckpointAsync(long step);

    /// <summary>
    /// Stores <paramref name="checkpoint"/> as this stage's checkpoint of <paramref name="step"/> (a state cut from another
    /// layout's); the run then initialises the stage at that step.
    /// </summary>
    Task SeedCheckpointAsync(StageAssignment assignment, long step, byte[] checkpoint);

    /// <summary>
    /// Moves this stage to <paramref name="target"/> once the call returns (nothing happens when it is there already), so
    /// that a silo that joined gets its share. Returns the silo it was on. An Orleans migration, not a deactivation: the
    /// directory names the new activation before the old one is gone, so a caller that cached the old address is forwarded
    /// to it. After a plain deactivation such a caller's next call re-created the stage on the silo it had just left, and
    /// placement was never asked (seen in the container test: one stage re-activated on the same silo 12 times in 25 s).
    /// Only between steps, after a checkpoint: the run initialises the moved stage from that checkpoint.
    /// </summary>
    Task<string> MoveToAsync(SiloAddress target);

    /// <summary>The silo this activation of the stage runs on, as Orleans prints its address.</summary>
    Task<string> GetSiloAsync();

    /// <summary>Mean validation loss over the validation batches (first stage feeds, last stage scores; called on the first).</summary>
    [ResponseTimeout("00:05:00")]
    Task<double> ValidateAsync(int? maxBatches);

    /// <summary>Validation forward pass handed down the pipeline: the last stage scores <paramref name="targets"/> (int64 bytes).</summary>
    [AlwaysInterleave]
    Task<ValidationResult> ForwardValidationAsync(TensorMessage hidden, byte[] targets);

    Task<IReadOnlyList<NamedTensor>> GetParametersAsync();

    /// <summary>
    /// The embeddings view of this stage's token embedding table now (first stage only): the inspector's PCA over the
    /// lexicon's tokens with their categories and the category purity, labelled <paramref name="step"/>. Reads the weights
    /// and changes nothing. Null when there is no lexicon and the table has more than 1,024 rows (too big to keep many of).
    /// </summary>
    Task<EmbeddingView?> SnapshotEmbeddingsAsync(long step);
}
