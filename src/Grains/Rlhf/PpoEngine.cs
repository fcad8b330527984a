using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Training;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>
/// A PPO run's policy or value model as the training engine holds it: stage grains (pipeline stages × data-parallel
/// replicas, keys under <see cref="PpoNames.EngineRun"/>) with the PPO objective on the last stage, and a data shard per
/// replica that serves the iteration's rollouts. The PPO run drives it: one engine step per minibatch, the stages'
/// checkpoints at its checkpoint iterations, a rollback by re-initialising every stage at one of them.
/// </summary>
internal sealed class PpoEngine(IGrainFactory grains, string ppoRun, PpoRole role, TrainingRunSpec spec)
{
    private readonly StepRule _rule = new(TrainingRunSpecs.Reference(spec));

    public string RunId { get; } = PpoNames.EngineRun(ppoRun, role);

    /// <summary>
    /// Every stage at <paramref name="restoreIteration"/>'s checkpoint, or, with <paramref name="weights"/>, fresh: the
    /// stages take their slices of them and save them as iteration 0's checkpoint (a rollback never needs them again).
    /// </summary>
    public async Task InitializeAsync(int? restoreIteration, IReadOnlyList<NamedTensor>? weights)
    {
        await Task.WhenAll(Enumerable.Range(0, spec.Replicas).Select(r => Shard(r).InitializeAsync(spec, r)));
        await Task.WhenAll(Stages().Select(s => s.Grain.InitializeAsync(new StageAssignment(RunId, s.Stage, s.Replica, spec), restoreIteration)));
        if (weights is not null)
        {
            await Task.WhenAll(Stages().Select(s => s.Grain.LoadWeightsAsync(weights)));
            await SaveCheckpointAsync(0);
        }
    }

    /// <summary>
    /// The minibatch steps of one iteration, steps <paramref name="firstStep"/> onwards: each minibatch's rows split over
    /// the replicas' micro-batches, one optimizer step each. Returns each step's loss and, for the policy, its clip
    /// fraction, approximate KL and entropy over the minibatch (on the weights the step starts from).
    /// </summary>
    public async Task<IReadOnlyList<PpoUpdateStatistics>> UpdateAsync(PpoRows rows, PpoTokens tokens, IReadOnlyList<int[]> minibatches, long firstStep)
    {
        var batch = new PpoUpdateBatch(firstStep, rows.ToMessage(), tokens.ToMessage(), minibatches);
        await Task.WhenAll(Enumerable.Range(0, spec.Replicas).Select(r => Shard(r).LoadPpoBatchAsync(batch)));
        var stages = Stages().Select(s => s.Grain).ToArray();
        var results = new List<PpoUpdateStatistics>(minibatches.Count);
        for (var k = 0; k < minibatches.Count; k++)
        {
            var step = await EngineStep.RunAsync(stages, _rule, firstStep + k);
            var sums = step.Reports.Where(r => r.PpoStatisticSums is { Length: 4 })
                .Aggregate(default(PpoStatisticSums), (total, r) => total.Add(new PpoStatisticSums(r.PpoStatisticSums![0], r.PpoStatisticSums[1], r.PpoStatisticSums[2], (long)r.PpoStatisticSums[3])));
            var (clip, approximateKl, entropy) = sums.Means;
            results.Add(new PpoUpdateStatistics(step.Decision.Loss, clip, approximateKl, entropy));
        }

        return results;
    }

    public Task SaveCheckpointAsync(int iteration) => Task.WhenAll(Stages().Select(s => s.Grain.SaveCheckpointAsync(iteration)));

    /// <summary>The whole model's weights (<see cref="RunLayout.WholeModelAsync"/>).</summary>
    public Task<IReadOnlyList<NamedTensor>> GetParametersAsync() => RunLayout.WholeModelAsync(grains, RunId, spec.Stages);

    /// <summary>Which silo holds each stage: role "policy" or "value", then "stage s/S, replica r".</summary>
    public async Task<IReadOnlyList<PpoModelPlacement>> PlacementsAsync()
    {
        var stages = Stages().ToArray();
        var silos = await Task.WhenAll(stages.Select(s => s.Grain.GetSiloAsync()));
        var name = role.ToString().ToLowerInvariant();
        return [.. stages.Select((s, i) => new PpoModelPlacement(name, RunLayout.StageKey(RunId, s.Replica, s.Stage, spec.Stages), silos[i]))];
    }

    private IDataShardGrain Shard(int replica) => grains.GetGrain<IDataShardGrain>(RunLayout.ShardKey(RunId, replica));

    private IEnumerable<(int Replica, int Stage, IPipelineStageGrain Grain)> Stages() =>
        from replica in Enumerable.Range(0, spec.Replicas)
        from stage in Enumerable.Range(0, spec.Stages)
        select (replica, stage, grains.GetGrain<IPipelineStageGrain>(RunLayout.StageKey(RunId, replica, stage, spec.Stages)));
}
