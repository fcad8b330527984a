using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Tests.Pipeline;

public sealed class TraceRecorderTests
{
    [Fact]
    public void Record_MoreStepsThanCapacity_KeepsOnlyTheLatestSteps()
    {
        var recorder = new TraceRecorder(stepCapacity: 3);

        for (var step = 0L; step < 5; step++)
        {
            recorder.Record(Event(step, start: 10 * step));
            recorder.Record(Event(step, start: 10 * step + 5));
        }

        Assert.Equal([2L, 3L, 4L], recorder.Steps);
        Assert.Equal([20L, 25L, 30L, 35L, 40L, 45L], recorder.Snapshot().Select(e => e.StartMicroseconds));
    }

    [Fact]
    public void Record_LateEventOfAForgottenStep_IsDroppedButALateEventOfAKeptStepIsKept()
    {
        var recorder = new TraceRecorder(stepCapacity: 2);
        recorder.Record(Event(5, start: 0));
        recorder.Record(Event(6, start: 0));

        recorder.Record(Event(4, start: 1));
        recorder.Record(Event(5, start: 2));

        Assert.Equal([5L, 6L], recorder.Steps);
        Assert.Equal(3, recorder.Snapshot().Count);
    }

    [Fact]
    public void Record_FromEightThreadsAtOnce_KeepsEveryEvent()
    {
        var recorder = new TraceRecorder(stepCapacity: 4);

        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, thread =>
        {
            for (var i = 0; i < 1000; i++)
            {
                recorder.Record(Event(i % 4, start: thread * 1000 + i));
            }
        });

        Assert.Equal(8000, recorder.Snapshot().Count);
        Assert.Equal(8000, recorder.Snapshot().Select(e => e.StartMicroseconds).Distinct().Count());
    }

    [Fact]
    public void Record_UnknownOpOrEndBeforeStart_Throws()
    {
        var recorder = new TraceRecorder(stepCapacity: 1);

        Assert.Throws<ArgumentException>(() => recorder.Record(Event(0, start: 0) with { Op = "think" }));
        Assert.Throws<ArgumentException>(() => recorder.Record(Event(0, start: 10) with { EndMicroseconds = 9 }));
        Assert.Throws<ArgumentException>(() => new TraceRecorder(0));
        Assert.Empty(recorder.Snapshot());
    }

    private static TraceEvent Event(long step, long start) =>
        new("stage/run/0/0", "silo-1", 0, 0, 0, TraceOps.Forward, step, start, start + 1);
}
