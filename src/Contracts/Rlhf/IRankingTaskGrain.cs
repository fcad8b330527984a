namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// One ranking task (key: its id) and the rankings it received, persisted before any is acknowledged. An unknown task
/// keeps no activation.
/// </summary>
public interface IRankingTaskGrain : IGrainWithStringKey
{
    /// <summary>Stores the task; creating it again with the same content is a no-op.</summary>
    /// <exception cref="InvalidOperationException">A different task already has this id.</exception>
    Task CreateAsync(RankingTaskInfo task);

    /// <exception cref="ArgumentException">No such task.</exception>
    Task<RankingTaskView> GetAsync();

    /// <summary>
    /// Stores the annotator's order and returns its receipt, or, if this annotator ranked the task before, the first
    /// receipt (marked duplicate) without changing anything.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown or expired task, a bad annotator id, an order that is not a permutation of the task's K completions.</exception>
    Task<RankingReceipt> SubmitAsync(string annotator, IReadOnlyList<int> order, bool simulated);

    /// <exception cref="ArgumentException">No such task.</exception>
    Task<IReadOnlyList<RankingReceipt>> GetRankingsAsync();

    /// <summary>Whether the annotator has ranked this task (false for an unknown task).</summary>
    Task<bool> HasRankedAsync(string annotator);
}
