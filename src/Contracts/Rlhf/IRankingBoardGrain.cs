namespace InsideLLMs.Distributed.Contracts.Rlhf;

/// <summary>
/// The cluster's ranking tasks (key: <see cref="RankingNames.Board"/>): creates them by sampling completions from a
/// model version through the inference grains, hands annotators tasks they have not ranked, and counts the rankings
/// from the tasks themselves. Not on the submission path: rankings go to the task grains.
/// </summary>
public interface IRankingBoardGrain : IGrainWithStringKey
{
    /// <summary>Creates <paramref name="count"/> tasks of <paramref name="k"/> completions from <paramref name="version"/>.</summary>
    /// <exception cref="ArgumentException">A count outside 1..100, K outside 2..9, or an unknown version.</exception>
    /// <remarks>Up to 900 completions are sampled here: on busy cores that takes longer than the default 30 s.</remarks>
    [ResponseTimeout("00:05:00")]
    Task<IReadOnlyList<RankingTaskInfo>> CreateTasksAsync(int count, int k, string version);

    /// <summary>The newest open task the annotator has not ranked, or a new one from <paramref name="version"/>.</summary>
    Task<RankingTaskInfo> NextTaskAsync(string annotator, int k, string version);

    /// <summary>Every task's id, oldest first.</summary>
    Task<IReadOnlyList<string>> GetTaskIdsAsync();

    Task<RankingSummary> GetSummaryAsync();
}
