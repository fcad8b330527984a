using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>A run's memory, estimated per stage of one replica, before anything is allocated.</summary>
public sealed record RunMemoryEstimate(IReadOnlyList<StageMemory> Stages, int Replicas)
{
    public StageMemory Largest => Stages.MaxBy(s => s.TotalBytes)!;

    /// <summary>Every stage of every replica.</summary>
    public long TotalBytes => StageMemory.Bytes(Stages.Sum(s => (double)s.TotalBytes) * Replicas);
}

/// <summary>
/// Whether a run fits the cluster's memory, checked where a run starts (the run grain, so the HTTP API, the client and
/// the page all get the same answer) before any grain or storage is touched.
/// </summary>
public static class RunAdmission
{
    /// <summary>The estimate for a spec whose dataset has <paramref name="vocabularySize"/> tokens.</summary>
    /// <exception cref="ArgumentException">The spec itself is invalid (see <see cref="TrainingRunSpecs.Validate"/>).</exception>
    public static RunMemoryEstimate Estimate(TrainingRunSpec spec, int vocabularySize)
    {
        TrainingRunSpecs.Validate(spec);
        var model = TrainingRunSpecs.Model(spec, vocabularySize);
        return new RunMemoryEstimate(
            StageMemory.Estimate(model, spec.Stages, spec.BatchSize, spec.MicroBatches, TrainingRunSpecs.Schedule(spec)), spec.Replicas);
    }

    /// <summary>
    /// Refuses a run whose largest stage would not fit one silo's budget, or whose stages together would not fit the
    /// budgets of the <paramref name="silos"/> active silos. The message gives the estimate, its parts and the budget.
    /// </summary>
    /// <exception cref="ArgumentException">The spec is invalid or does not fit.</exception>
    public static RunMemoryEstimate Admit(TrainingRunSpec spec, int vocabularySize, long budgetPerSilo, int silos)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(budgetPerSilo, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(silos, 1);
        var estimate = Estimate(spec, vocabularySize);
        var largest = estimate.Largest;
        const string Advice = "use fewer rows per micro-batch, fewer micro-batches in flight (1F1B instead of GPipe), a shorter context, more stages or a smaller model, or raise Compute:MemoryBudget";
        if (largest.TotalBytes > budgetPerSilo)
        {
            throw new ArgumentException(
                $"The run would need about {StageMemory.Format(largest.TotalBytes)} for stage {largest.Stage} alone " +
                $"({largest.Parameters:N0} parameters with gradients and optimizer state {StageMemory.Format(largest.StateBytes)}, " +
                $"activations of {largest.MicroBatchesInFlight} micro-batch(es) in flight {StageMemory.Format(largest.ActivationBytes)}" +
                (largest.LogitBytes > 0 ? $", logits {StageMemory.Format(largest.LogitBytes)}" : "") +
                $"), but a silo's memory budget (Compute:MemoryBudget) is {StageMemory.Format(budgetPerSilo)}: {Advice}.");
        }

        if (estimate.TotalBytes > (double)budgetPerSilo * silos)
        {
            throw new ArgumentException(
                $"The run would need about {StageMemory.Format(estimate.TotalBytes)} in all ({spec.Stages} stage(s) x {spec.Replicas} replica(s)), " +
                $"but the cluster's {silos} silo(s) have {StageMemory.Format(StageMemory.Bytes((double)budgetPerSilo * silos))} of memory budget together " +
                $"({StageMemory.Format(budgetPerSilo)} each, Compute:MemoryBudget): {Advice}, or add silos.");
        }

        return estimate;
    }
}
