using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// Serves replica r's micro-batches (pre-training windows or SFT instruction rows); the batch is a pure function of
/// (seed, step, micro-batch, replica).
/// </summary>
public sealed class DataShardGrain(
    [PersistentState("shard", TrainingStorage.ProviderName)] IPersistentState<DataShardState> state,
    DatasetCache datasets) : Grain, IDataShardGrain
{
    public async Task InitializeAsync(TrainingRunSpec spec, int replica)
    {
        ArgumentNullException.ThrowIfNull(spec);
        datasets.Batches(spec); // build (or fail) now, not in the middle of a step
        if (state.State.Spec != spec || state.State.Replica != replica)
        {
            state.State.Spec = spec;
            state.State.Replica = replica;
            await state.WriteStateAsync();
        }
    }

    public Task<TokenBatchMessage> GetMicroBatchAsync(long step, int microBatch)
    {
        var spec = Spec();
        var batch = datasets.Batches(spec).TrainBatch(spec.Seed, step, microBatch, state.State.Replica, spec.MicroBatches, spec.BatchSize, spec.Replicas);
        return Task.FromResult(new TokenBatchMessage(TokenBytes.From(batch.Inputs), TokenBytes.From(batch.Targets), batch.BatchSize, batch.BlockSize)
        {
            StepTargetCount = batch.StepTargetCount,
        });
    }

    public Task<TokenBatchMessage?> GetValidationBatchAsync(int index, int batchSize)
    {
        var batch = datasets.Batches(Spec()).ValidationBatches(batchSize).Skip(index).FirstOrDefault();
        return Task.FromResult(batch is null
            ? null
            : new TokenBatchMessage(TokenBytes.From(batch.Inputs), TokenBytes.From(batch.Targets), batch.BatchSize, batch.BlockSize));
    }

    private TrainingRunSpec Spec() =>
        state.State.Spec ?? throw new InvalidOperationException($"Data shard {this.GetPrimaryKeyString()} was never initialised.");
}
