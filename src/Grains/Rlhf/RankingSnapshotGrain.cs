using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Grains.Rlhf;

/// <summary>The stored rankings a reward run trains on, gathered from the ranking tasks when it starts.</summary>
public sealed class RankingSnapshotGrain(
    [PersistentState("rankings", TrainingStorage.ProviderName)] IPersistentState<RankingSnapshotState> state) : Grain, IRankingSnapshotGrain
{
    public async Task<int> TakeAsync(int completions)
    {
        var board = GrainFactory.GetGrain<IRankingBoardGrain>(RankingNames.Board);
        var examples = new List<RankingExample>();
        var skipped = 0;
        foreach (var id in await board.GetTaskIdsAsync())
        {
            var task = GrainFactory.GetGrain<IRankingTaskGrain>(id);
            var view = await task.GetAsync();
            var rankings = await task.GetRankingsAsync();
            if (view.Task.Completions.Count != completions)
            {
                skipped += rankings.Count;
                continue;
            }

            examples.AddRange(rankings.Select(r => new RankingExample(r.ReceiptId, view.Task.Prompt, view.Task.Completions, r.Order, r.Simulated)));
        }

        if (examples.Count == 0)
        {
            throw new ArgumentException(
                $"No stored ranking orders {completions} completions ({skipped} of other sizes): rank some tasks of {completions} first (rank --k {completions}, or the page's section 08), or train on the built-in rankings (rankings 'synthetic').");
        }

        state.State.Rankings = examples;
        await state.WriteStateAsync();
        return examples.Count;
    }

    public Task<IReadOnlyList<RankingExample>> GetAsync() => state.State.Rankings.Count == 0
        ? throw new InvalidOperationException($"No rankings were taken for run '{this.GetPrimaryKeyString()}'.")
        : Task.FromResult<IReadOnlyList<RankingExample>>(state.State.Rankings);
}

[GenerateSerializer, Alias("RankingSnapshotState")]
public sealed class RankingSnapshotState
{
    [Id(0)] public List<RankingExample> Rankings { get; set; } = [];
}
