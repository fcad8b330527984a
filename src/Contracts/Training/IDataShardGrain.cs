namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// The data of one replica (key: "{run}/{replica}"): serves its deterministic micro-batches, which are a pure
/// function of (seed, step, micro-batch, replica), so a recovered run reads exactly what it read before.
/// </summary>
public interface IDataShardGrain : IGrainWithStringKey
{
    Task InitializeAsync(TrainingRunSpec spec, int replica);

    Task<TokenBatchMessage> GetMicroBatchAsync(long step, int microBatch);

    /// <summary>
    /// A PPO model's shard: the iteration's rollouts and minibatches, served from <see cref="PpoUpdateBatch.FirstStep"/>
    /// on, one minibatch a step (held in memory: a lost shard fails the step and the run goes back to its checkpoint).
    /// </summary>
    Task LoadPpoBatchAsync(PpoUpdateBatch batch);

    /// <summary>Validation batch <paramref name="index"/>, or null past the last one.</summary>
    Task<TokenBatchMessage?> GetValidationBatchAsync(int index, int batchSize);
}

/// <summary>
/// One PPO iteration's update data for the stage grains: the rollouts' rows and per-token floats, and the minibatches
/// (rows of <paramref name="Rows"/>, epoch after epoch), minibatch k being step <paramref name="FirstStep"/> + k. Replica
/// r's micro-batch m of a step is the minibatch's rows (r M + m) B to (r M + m + 1) B − 1, B = rows / (R M).
/// </summary>
[GenerateSerializer, Immutable, Alias("PpoUpdateBatch")]
public sealed record PpoUpdateBatch(
    [property: Id(0)] long FirstStep,
    [property: Id(1)] Rlhf.PpoRowsMessage Rows,
    [property: Id(2)] Rlhf.PpoTokensMessage Tokens,
    [property: Id(3)] IReadOnlyList<int[]> MiniBatches);
