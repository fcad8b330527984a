using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Rlhf;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// Serves replica r's micro-batches (pre-training windows, SFT instruction rows or a reward model's rankings); the batch
/// is a pure function of (seed, step, micro-batch, replica), and of the rankings the run took when it started. A PPO
/// model's shard serves the rollouts its run hands it each iteration instead (<see cref="LoadPpoBatchAsync"/>).
/// </summary>
public sealed class DataShardGrain(
    [PersistentState("shard", TrainingStorage.ProviderName)] IPersistentState<DataShardState> state,
    DatasetCache datasets) : Grain, IDataShardGrain
{
    private PpoUpdateBatch? _ppo;

    private string RunId => this.GetPrimaryKeyString()[..this.GetPrimaryKeyString().LastIndexOf('/')];

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Spec is { } spec)
        {
            await LoadClusterRankingsAsync(spec); // a shard reactivated after a silo was lost reads what it read before
        }
    }

    public async Task InitializeAsync(TrainingRunSpec spec, int replica)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await LoadClusterRankingsAsync(spec);
        _ppo = null;
        if (!IsPpo(spec))
        {
            datasets.Batches(spec, RunId); // build (or fail) now, not in the middle of a step
        }

        if (state.State.Spec != spec || state.State.Replica != replica)
        {
            state.State.Spec = spec;
            state.State.Replica = replica;
            await state.WriteStateAsync();
        }
    }

    public Task LoadPpoBatchAsync(PpoUpdateBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!IsPpo(Spec()))
        {
            throw new InvalidOperationException($"Data shard {this.GetPrimaryKeyString()} serves a {Spec().Objective} run, not a PPO model.");
        }

        _ppo = batch;
        return Task.CompletedTask;
    }

    public Task<TokenBatchMessage> GetMicroBatchAsync(long step, int microBatch)
    {
        var spec = Spec();
        if (IsPpo(spec))
        {
            return Task.FromResult(PpoMicroBatch(spec, step, microBatch));
        }

        var batch = datasets.Batches(spec, RunId).TrainBatch(spec.Seed, step, microBatch, state.State.Replica, spec.MicroBatches, spec.BatchSize, spec.Replicas);
        return Task.FromResult(new TokenBatchMessage(TokenBytes.From(batch.Inputs), TokenBytes.From(batch.Targets), batch.BatchSize, batch.BlockSize)
        {
            StepTargetCount = batch.StepTargetCount,
        });
    }

    public Task<TokenBatchMessage?> GetValidationBatchAsync(int index, int batchSize)
    {
        var batch = datasets.Batches(Spec(), RunId).ValidationBatches(batchSize).Skip(index).FirstOrDefault();
        return Task.FromResult(batch is null
            ? null
            : new TokenBatchMessage(TokenBytes.From(batch.Inputs), TokenBytes.From(batch.Targets), batch.BatchSize, batch.BlockSize));
    }

    /// <summary>A reward run on the cluster's rankings reads the ones the run took when it started (its snapshot grain).</summary>
    private async Task LoadClusterRankingsAsync(TrainingRunSpec spec)
    {
        if (TrainingRunSpecs.Objective(spec) != ObjectiveKind.Reward || TrainingRunSpecs.RankingSource(spec) != TrainingRunSpecs.ClusterRankings)
        {
            return;
        }

        var taken = await GrainFactory.GetGrain<IRankingSnapshotGrain>(RunId).GetAsync();
        datasets.LoadRankings(RunId, spec, taken);
    }

    private static bool IsPpo(TrainingRunSpec spec) => TrainingRunSpecs.Objective(spec) is ObjectiveKind.PpoPolicy or ObjectiveKind.PpoValue;

    /// <summary>This replica's micro-batch of the step's minibatch: its rows, their per-token floats, and the minibatch's completion tokens (what the loss averages over).</summary>
    private TokenBatchMessage PpoMicroBatch(TrainingRunSpec spec, long step, int microBatch)
    {
        var batch = _ppo ?? throw new InvalidOperationException($"Data shard {this.GetPrimaryKeyString()} holds no PPO rollouts (new activation: the run goes back to its checkpoint).");
        var index = step - batch.FirstStep;
        if (index < 0 || index >= batch.MiniBatches.Count)
        {
            throw new InvalidOperationException($"Data shard {this.GetPrimaryKeyString()} holds PPO steps {batch.FirstStep} to {batch.FirstStep + batch.MiniBatches.Count - 1}, not step {step}.");
        }

        var rows = batch.Rows.ToRows();
        var minibatch = batch.MiniBatches[(int)index];
        var mine = PpoRows.MicroBatchRows(minibatch, state.State.Replica, spec.Replicas, microBatch, spec.MicroBatches);
        var micro = rows.Take(mine);
        return new TokenBatchMessage(TokenBytes.From(micro.Inputs), TokenBytes.From(micro.Targets), micro.BatchSize, micro.BlockSize)
        {
            StepTargetCount = minibatch.Sum(r => (long)rows.Count[r]),
            Ppo = rows.Take(batch.Tokens.ToTokens(), mine).ToMessage(),
        };
    }

    private TrainingRunSpec Spec() =>
        state.State.Spec ?? throw new InvalidOperationException($"Data shard {this.GetPrimaryKeyString()} was never initialised.");
}
