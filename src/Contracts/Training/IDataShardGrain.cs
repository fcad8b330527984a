namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>
/// The data of one replica (key: "{run}/{replica}"): serves its deterministic micro-batches, which are a pure
/// function of (seed, step, micro-batch, replica), so a recovered run reads exactly what it read before.
/// </summary>
public interface IDataShardGrain : IGrainWithStringKey
{
    Task InitializeAsync(TrainingRunSpec spec, int replica);

    Task<TokenBatchMessage> GetMicroBatchAsync(long step, int microBatch);

    /// <summary>Validation batch <paramref name="index"/>, or null past the last one.</summary>
    Task<TokenBatchMessage?> GetValidationBatchAsync(int index, int batchSize);
}
