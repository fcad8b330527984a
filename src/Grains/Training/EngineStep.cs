using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Maths.Training;

namespace InsideLLMs.Distributed.Grains.Training;

/// <summary>
/// One optimizer step across a run's stage grains, whoever drives the run (a training run, or a PPO run's policy and
/// value model): every stage runs its schedule, the gradients are all-reduced, the step rule decides the clip and the
/// learning rate from replica 0's gradient norm, and every stage applies the update.
/// </summary>
internal static class EngineStep
{
    /// <param name="beforeUpdate">Called between the decision and the update: throws to keep the weights as they are (a deactivated run).</param>
    public static async Task<EngineStepResult> RunAsync(IReadOnlyList<IPipelineStageGrain> stages, StepRule rule, long step, Action? beforeUpdate = null)
    {
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentNullException.ThrowIfNull(rule);
        var reports = await AllOrFirstFailure(stages.Select(s => s.RunStepAsync(step)));
        var reduces = await AllOrFirstFailure(stages.Select(s => s.ReduceGradientsAsync(step)));
        // After the all-reduce every replica holds the same gradient: the norm is replica 0's stages, tied matrix once.
        var decision = rule.Decide(
            step, reduces.Where(r => r.Replica == 0).Sum(r => r.GradientSumOfSquares), reports.Sum(r => r.LossSum), reports.Sum(r => r.LossWeight));
        beforeUpdate?.Invoke();
        var updates = await AllOrFirstFailure(stages.Select(s => s.ApplyUpdateAsync(step, decision.ClipCoefficient, decision.LearningRate)));
        return new EngineStepResult(decision, reports, reduces, updates);
    }

    /// <summary>
    /// Task.WhenAll that throws at the first failure instead of after the last call. When a silo dies, the stages that
    /// survive wait for its messages (up to Compute:MessageTimeoutSeconds, 30 s by default); waiting for them before rolling back
    /// stalled the recovery that long. The rollback's InitializeAsync ends their waits.
    /// </summary>
    public static async Task<T[]> AllOrFirstFailure<T>(IEnumerable<Task<T>> calls)
    {
        var pending = calls.ToList();
        var all = Task.WhenAll(pending);
        _ = all.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default); // observed
        while (pending.Count > 0)
        {
            var done = await Task.WhenAny(pending);
            await done; // rethrows the first failure
            pending.Remove(done);
        }

        return await all;
    }
}

/// <summary>What one step did: the rule's decision and every stage's reports.</summary>
internal sealed record EngineStepResult(StepDecision Decision, StageStepReport[] Reports, StageReduceReport[] Reduces, StageUpdateReport[] Updates);
