using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// A PPO run's memory before anything is allocated: the policy's and the value model's update stages (the training
/// engine's, estimated as any run's), the four whole models (policy, reference, value, reward) each on its grain, and the
/// rollout version's copy of the policy.
/// </summary>
/// <param name="Policy">The policy's update stages, every replica.</param>
/// <param name="Value">The value model's update stages, every replica.</param>
/// <param name="Models">One grain's model each: policy, reference, value, reward, then the rollout version's copy.</param>
public sealed record PpoMemoryEstimate(RunMemoryEstimate Policy, RunMemoryEstimate Value, IReadOnlyList<(string Name, long Bytes)> Models)
{
    public long ModelBytes => StageMemory.Bytes(Models.Sum(m => (double)m.Bytes));

    public long TotalBytes => StageMemory.Bytes((double)Policy.TotalBytes + Value.TotalBytes + ModelBytes);
}

/// <summary>
/// Whether a PPO run fits the cluster's memory, checked by the PPO run grain before any model or stage grain is touched,
/// with the budget <see cref="RunAdmission"/> applies to training runs. PPO's spec has no upper bound on its rollouts: a
/// batch of a million rollouts is refused here with the reason, not found out by a silo that runs out of memory.
/// </summary>
public static class PpoAdmission
{
    /// <summary>
    /// The estimate for the policy's and the value model's engine specs (their corpora having the given vocabularies),
    /// <paramref name="rollouts"/> completions an iteration. A model grain holds its weights, its source weights in grain
    /// state, and one forward over the rollouts: its logits and log-softmax, and (a bound: a forward without gradients
    /// keeps less) one block's activations at <see cref="StageMemory.ActivationBytesPerElement"/>. The rollout version
    /// holds the weights and each rollout's key/value cache.
    /// </summary>
    public static PpoMemoryEstimate Estimate(TrainingRunSpec policyEngine, int policyVocabulary, TrainingRunSpec valueEngine, int valueVocabulary, int rollouts)
    {
        ArgumentNullException.ThrowIfNull(policyEngine);
        ArgumentNullException.ThrowIfNull(valueEngine);
        ArgumentOutOfRangeException.ThrowIfLessThan(rollouts, 1);
        var policyModel = TrainingRunSpecs.Model(policyEngine, policyVocabulary);
        var valueModel = TrainingRunSpecs.Model(valueEngine, valueVocabulary);
        var policyGrain = ModelGrainBytes(policyModel, rollouts);
        var valueGrain = ModelGrainBytes(valueModel, rollouts);
        double rows = rollouts, t = policyModel.BlockSize, c = policyModel.EmbeddingSize;
        var rollout = StageMemory.Bytes(StageMemory.OverheadBytes + (4.0 * Parameters(policyModel)) + (rows * policyModel.LayerCount * 2 * t * c * sizeof(float)));
        return new PpoMemoryEstimate(
            Updates(policyEngine, policyModel),
            Updates(valueEngine, valueModel),
            [("policy model", policyGrain), ("reference model", policyGrain), ("value model", valueGrain), ("reward model", valueGrain), ("rollout version", rollout)]);
    }

    /// <summary>
    /// Refuses a PPO run whose largest update stage or largest model would not fit one silo's budget, or whose parts
    /// together would not fit the budgets of the <paramref name="silos"/> active silos. The message gives the estimate,
    /// its parts and the budget.
    /// </summary>
    /// <exception cref="ArgumentException">It does not fit.</exception>
    public static PpoMemoryEstimate Admit(PpoMemoryEstimate estimate, long budgetPerSilo, int silos)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        ArgumentOutOfRangeException.ThrowIfLessThan(budgetPerSilo, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(silos, 1);
        const string Advice = "use fewer rollouts (rollouts), more minibatches (miniBatches), more stages, or raise Compute:MemoryBudget";
        foreach (var (role, engine) in new[] { ("policy", estimate.Policy), ("value model", estimate.Value) })
        {
            var largest = engine.Largest;
            if (largest.TotalBytes > budgetPerSilo)
            {
                throw new ArgumentException(
                    $"The PPO run would need about {StageMemory.Format(largest.TotalBytes)} for stage {largest.Stage} of the {role}'s updates alone " +
                    $"({largest.Parameters:N0} parameters with gradients and optimizer state {StageMemory.Format(largest.StateBytes)}, " +
                    $"activations {StageMemory.Format(largest.ActivationBytes)}" + (largest.LogitBytes > 0 ? $", logits {StageMemory.Format(largest.LogitBytes)}" : "") +
                    $"), but a silo's memory budget (Compute:MemoryBudget) is {StageMemory.Format(budgetPerSilo)}: {Advice}.");
            }
        }

        var (name, bytes) = estimate.Models.MaxBy(m => m.Bytes);
        if (bytes > budgetPerSilo)
        {
            throw new ArgumentException(
                $"The PPO run would need about {StageMemory.Format(bytes)} for its {name} alone (a whole model and a forward over the rollouts), " +
                $"but a silo's memory budget (Compute:MemoryBudget) is {StageMemory.Format(budgetPerSilo)}: {Advice}.");
        }

        if (estimate.TotalBytes > (double)budgetPerSilo * silos)
        {
            throw new ArgumentException(
                $"The PPO run would need about {StageMemory.Format(estimate.TotalBytes)} in all (the policy's updates {StageMemory.Format(estimate.Policy.TotalBytes)}, " +
                $"the value model's {StageMemory.Format(estimate.Value.TotalBytes)}, its four models and the rollout version {StageMemory.Format(estimate.ModelBytes)}), " +
                $"but the cluster's {silos} silo(s) have {StageMemory.Format(StageMemory.Bytes((double)budgetPerSilo * silos))} of memory budget together " +
                $"({StageMemory.Format(budgetPerSilo)} each, Compute:MemoryBudget): {Advice}, or add silos.");
        }

        return estimate;
    }

    /// <summary>An engine's stages as <see cref="RunAdmission.Estimate"/> counts a run's (that one also validates a user's spec, which PPO's objectives are not).</summary>
    private static RunMemoryEstimate Updates(TrainingRunSpec engine, GptConfig model) =>
        new(StageMemory.Estimate(model, engine.Stages, engine.BatchSize, engine.MicroBatches, TrainingRunSpecs.Schedule(engine)), engine.Replicas);

    private static long ModelGrainBytes(GptConfig model, int rollouts)
    {
        double rows = rollouts, t = model.BlockSize, c = model.EmbeddingSize, v = model.VocabularySize;
        return StageMemory.Bytes(StageMemory.OverheadBytes + (8.0 * Parameters(model)) + (2 * rows * t * v * sizeof(float)) + (rows * t * c * StageMemory.ActivationBytesPerElement));
    }

    /// <summary>The whole model's parameters: its one-stage estimate's.</summary>
    private static double Parameters(GptConfig model) =>
        StageMemory.Estimate(model, stages: 1, batchSize: 1, microBatches: 1, PipelineScheduleKind.OneFOneB)[0].Parameters;
}
