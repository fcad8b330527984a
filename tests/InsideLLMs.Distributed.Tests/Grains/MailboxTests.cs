using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Training;

namespace InsideLLMs.Distributed.Tests.Grains;

/// <summary>The stage grain's mailboxes without a grain: early and late messages, duplicates, rollbacks and timeouts.</summary>
public sealed class MailboxTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task AMessageThatArrivesBeforeItIsAskedFor_IsKept()
    {
        var mailbox = new Mailbox<int, string>("test message");
        mailbox.Deliver(1, "early");

        Assert.Equal("early", await mailbox.ReceiveAsync(1, Wait));
    }

    [Fact]
    public async Task AWait_EndsWhenItsMessageArrives_AndADuplicateKeepsTheFirstCopy()
    {
        var mailbox = new Mailbox<int, string>("test message");
        var waiting = mailbox.ReceiveAsync(2, Wait);
        Assert.False(waiting.IsCompleted);

        mailbox.Deliver(2, "first");
        mailbox.Deliver(2, "again");

        Assert.Equal("first", await waiting);
    }

    [Fact]
    public async Task AWaitThatTimesOut_NamesWhatDidNotArrive()
    {
        var mailbox = new Mailbox<int, string>("all-reduce chunk");

        var e = await Assert.ThrowsAsync<TimeoutException>(() => mailbox.ReceiveAsync(7, TimeSpan.FromMilliseconds(50)));
        Assert.Contains("all-reduce chunk 7", e.Message);
    }

    [Fact]
    public async Task Close_FaultsEveryWait_RefusesNewOnes_AndDropsLateMessages_UntilOpen()
    {
        var mailbox = new Mailbox<int, string>("test message");
        mailbox.Deliver(1, "stale");
        var waiting = mailbox.ReceiveAsync(2, Wait);

        mailbox.Close("rolling back");

        var e = await Assert.ThrowsAsync<OperationCanceledException>(() => waiting);
        Assert.Equal("rolling back", e.Message);
        await Assert.ThrowsAsync<OperationCanceledException>(() => mailbox.ReceiveAsync(3, Wait));
        mailbox.Deliver(3, "late");
        mailbox.Open();
        mailbox.Deliver(1, "replayed");
        Assert.Equal("replayed", await mailbox.ReceiveAsync(1, Wait)); // the stale copy went with the close
        await Assert.ThrowsAsync<TimeoutException>(() => mailbox.ReceiveAsync(3, TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public async Task Forget_DropsOnlyStaleMessages_NotWaitsOrNewerOnes()
    {
        var mailbox = new Mailbox<long, string>("test message");
        mailbox.Deliver(1, "old");
        mailbox.Deliver(5, "current");

        mailbox.Forget(step => step < 5);

        Assert.Equal("current", await mailbox.ReceiveAsync(5, Wait));
        await Assert.ThrowsAsync<TimeoutException>(() => mailbox.ReceiveAsync(1, TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public async Task StageMailboxes_CloseAndForgetAllFour()
    {
        var mail = new StageMailboxes();
        var tensor = new TensorMessage([], [0]);
        var activation = mail.Activations.ReceiveAsync((3, 0), Wait);
        var gradient = mail.Gradients.ReceiveAsync((3, 0), Wait);
        var chunk = mail.Chunks.ReceiveAsync((3, 0), Wait);
        var tied = mail.Tied.ReceiveAsync(3, Wait);

        mail.Close("re-initialising");

        foreach (var wait in new Task[] { activation, gradient, chunk, tied })
        {
            await Assert.ThrowsAsync<OperationCanceledException>(() => wait);
        }

        mail.Open();
        mail.Activations.Deliver((2, 0), new ActivationMessage(2, 0, tensor, 0));
        mail.Gradients.Deliver((2, 0), new GradientMessage(2, 0, tensor, 0));
        mail.Chunks.Deliver((2, 0), new ChunkMessage(2, 0, []));
        mail.Tied.Deliver(2, new TiedGradientMessage(2, true, tensor));
        mail.Tied.Deliver(4, new TiedGradientMessage(4, true, tensor));
        mail.ForgetBefore(3);

        var quick = TimeSpan.FromMilliseconds(50);
        await Assert.ThrowsAsync<TimeoutException>(() => mail.Activations.ReceiveAsync((2, 0), quick));
        await Assert.ThrowsAsync<TimeoutException>(() => mail.Gradients.ReceiveAsync((2, 0), quick));
        await Assert.ThrowsAsync<TimeoutException>(() => mail.Chunks.ReceiveAsync((2, 0), quick));
        await Assert.ThrowsAsync<TimeoutException>(() => mail.Tied.ReceiveAsync(2, quick));
        Assert.Equal(4, (await mail.Tied.ReceiveAsync(4, Wait)).Step);
    }

    [Fact]
    public async Task StageMailboxes_AFailedSend_EndsTheScheduleWaitsOnly()
    {
        var mail = new StageMailboxes();
        var activation = mail.Activations.ReceiveAsync((1, 0), Wait);
        var chunk = mail.Chunks.ReceiveAsync((1, 0), TimeSpan.FromMilliseconds(200));

        mail.FailSchedule("the next stage is gone");

        await Assert.ThrowsAsync<OperationCanceledException>(() => activation);
        await Assert.ThrowsAsync<TimeoutException>(() => chunk); // still waiting until its own timeout
    }
}
