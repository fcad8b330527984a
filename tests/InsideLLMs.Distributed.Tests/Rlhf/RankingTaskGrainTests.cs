using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Tests.Cluster;

namespace InsideLLMs.Distributed.Tests.Rlhf;

/// <summary>The ranking task grain in the in-process cluster: what it stores, what it refuses, and that a refusal changes nothing.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RankingTaskGrainTests(ClusterFixture fixture)
{
    private async Task<(IRankingTaskGrain Grain, RankingTaskInfo Task)> NewTaskAsync(int k = 4, TimeSpan? lifetime = null)
    {
        var id = $"task-test-{Guid.NewGuid():N}";
        var now = fixture.Clock.UtcNow;
        var task = new RankingTaskInfo(id, " describe the dog at the river", [.. Enumerable.Range(0, k).Select(i => $" completion {i}.")], "base", now, now + (lifetime ?? TimeSpan.FromHours(1)));
        var grain = fixture.Grains.GetGrain<IRankingTaskGrain>(id);
        await grain.CreateAsync(task);
        return (grain, task);
    }

    [Fact]
    public async Task Submit_StoresTheOrder_AndAResubmissionReturnsTheFirstReceiptChangingNothing()
    {
        var (grain, task) = await NewTaskAsync();

        var first = await grain.SubmitAsync("ann", [2, 0, 3, 1], simulated: false);
        var again = await grain.SubmitAsync("ann", [0, 1, 2, 3], simulated: true);

        Assert.Equal($"{task.Id}#1", first.ReceiptId);
        Assert.False(first.Duplicate);
        AssertSame(first with { Duplicate = true }, again);
        var stored = Assert.Single(await grain.GetRankingsAsync());
        AssertSame(first, stored);
        Assert.Equal([2, 0, 3, 1], stored.Order);
    }

    [Fact]
    public async Task TwoAnnotators_AreBothStored_WithTheirAgreement()
    {
        var (grain, _) = await NewTaskAsync(k: 3);

        await grain.SubmitAsync("ann", [0, 1, 2], simulated: false);
        var second = await grain.SubmitAsync("sim-1", [1, 0, 2], simulated: true);
        var view = await grain.GetAsync();

        Assert.Equal(2, second.Sequence);
        Assert.Equal(2, view.Rankings);
        Assert.Equal(1, view.Simulated);
        Assert.Equal(2.0 / 3, view.Agreement!.Value, 12); // one of the three pairs is swapped
    }

    [Theory]
    [InlineData(new[] { 0, 1, 2 }, "lists 3")]
    [InlineData(new[] { 0, 0, 1, 2 }, "lists completion 0 twice")]
    [InlineData(new[] { 0, 1, 2, 9 }, "has 9, which is not a completion")]
    public async Task Submit_NotAPermutationOfK_IsRefused_AndNothingIsStored(int[] order, string reason)
    {
        var (grain, _) = await NewTaskAsync();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitAsync("ann", order, simulated: false));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Empty(await grain.GetRankingsAsync());
        Assert.False(await grain.HasRankedAsync("ann"));
    }

    [Fact]
    public async Task Submit_BadAnnotator_IsRefused_AndNothingIsStored()
    {
        var (grain, _) = await NewTaskAsync();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitAsync("ann lee", [0, 1, 2, 3], simulated: false));

        Assert.Contains("has ' '", error.Message, StringComparison.Ordinal);
        Assert.Empty(await grain.GetRankingsAsync());
    }

    [Fact]
    public async Task Submit_UnknownTask_IsRefusedByName()
    {
        var grain = fixture.Grains.GetGrain<IRankingTaskGrain>("task-never-made");

        var error = await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitAsync("ann", [0, 1], simulated: false));

        Assert.Equal("Unknown ranking task 'task-never-made'.", error.Message);
        Assert.False(await grain.HasRankedAsync("ann"));
    }

    [Fact]
    public async Task Submit_AfterExpiry_IsRefused_ButTheFirstReceiptIsStillReturned()
    {
        var (grain, task) = await NewTaskAsync(lifetime: TimeSpan.FromMinutes(10));
        var first = await grain.SubmitAsync("early", [0, 1, 2, 3], simulated: false);

        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        var late = await Assert.ThrowsAsync<ArgumentException>(() => grain.SubmitAsync("late", [0, 1, 2, 3], simulated: false));
        var again = await grain.SubmitAsync("early", [3, 2, 1, 0], simulated: false);

        Assert.Equal($"Ranking task '{task.Id}' expired at {task.ExpiresAt:u}; ask for a new task.", late.Message);
        AssertSame(first with { Duplicate = true }, again);
        Assert.True((await grain.GetAsync()).Expired);
        Assert.Single(await grain.GetRankingsAsync());
    }

    [Fact]
    public async Task Create_SameIdOtherCompletions_IsRefused_TheFirstTaskStays()
    {
        var (grain, task) = await NewTaskAsync();

        await grain.CreateAsync(task); // the same task again: a no-op
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => grain.CreateAsync(task with { Completions = [" other", " ones"] }));

        Assert.Contains("exists with other completions", error.Message, StringComparison.Ordinal);
        Assert.Equal(task.Completions, (await grain.GetAsync()).Task.Completions);
    }

    /// <summary>Receipts equal field by field (their orders are lists: records compare those by reference).</summary>
    internal static void AssertSame(RankingReceipt expected, RankingReceipt actual)
    {
        Assert.Equal(expected with { Order = Array.Empty<int>() }, actual with { Order = Array.Empty<int>() });
        Assert.Equal(expected.Order, actual.Order);
    }
}
