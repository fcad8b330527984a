namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// Where a trainer's batches come from: pre-training windows (<see cref="TokenDataset"/>) or instruction/response rows
/// (<see cref="InstructionDataset"/>). A training batch is a pure function of its arguments, so one process with
/// M x R micro-batches and R replicas with M each read the same rows.
/// </summary>
public interface ITrainingBatches
{
    /// <summary>The context T every row has.</summary>
    int BlockSize { get; }

    /// <summary>
    /// Micro-batch <paramref name="microBatch"/> of replica <paramref name="replica"/> of step <paramref name="step"/>;
    /// <paramref name="replicas"/> x <paramref name="microBatchesPerReplica"/> x <paramref name="batchSize"/> rows make the
    /// step's global batch (the batch's <see cref="TokenBatch.StepTargetCount"/> counts its targets where that matters).
    /// </summary>
    TokenBatch TrainBatch(long seed, long step, int microBatch, int replica, int microBatchesPerReplica, int batchSize, int replicas);

    /// <summary>The held-out rows in a fixed order; the last batch may have fewer rows.</summary>
    IEnumerable<TokenBatch> ValidationBatches(int batchSize, int? maxBatches = null);
}
