using System.Globalization;
using System.Text.Json.Serialization;
using InsideLLMs.Distributed.Contracts.Inference;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// What every <c>/api</c> request is admitted by, once for the whole API: strict JSON (an unknown field, a wrong type or
/// malformed JSON is a 400 naming the field), a body size limit (413), a text length limit (400), reads bounded in time
/// (503 with <c>Retry-After</c> while the cluster recovers), and a <c>{"error": "..."}</c> body on every refusal, a 500
/// included.
/// </summary>
public static partial class ApiAdmissionExtensions
{
    public const string ApiPrefix = "/api";

    public static WebApplicationBuilder AddApiAdmission(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ApiOptions>()
            .Bind(builder.Configuration.GetSection(ApiOptions.Section))
            .Validate(o => o.MaxRequestBytes > 0, "Api:MaxRequestBytes must be positive.")
            .Validate(o => o.MaxTextLength > 0, "Api:MaxTextLength must be positive.")
            .Validate(o => o.ReadTimeoutSeconds > 0 && double.IsFinite(o.ReadTimeoutSeconds), "Api:ReadTimeoutSeconds must be a positive number.")
            .Validate(o => o.RetryAfterSeconds >= 0, "Api:RetryAfterSeconds must not be negative.")
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
            // A misspelt field is refused rather than ignored: "stpes": 10 would otherwise start a default-length run.
            json.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        });
        // Binding failures throw (instead of an empty 400) so the middleware below can say which field or parameter.
        builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        return builder;
    }

    /// <summary>The middleware that sizes, catches and words every refusal; add it before the endpoints.</summary>
    public static WebApplication UseApiAdmission(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<ApiAdmissionMiddleware>();
        return app;
    }

    /// <summary>Refuses a string argument, or a generation request's prompt or stop text, longer than <see cref="ApiOptions.MaxTextLength"/>.</summary>
    public static TBuilder WithTextLimit<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddEndpointFilterFactory((factory, next) =>
        {
            var texts = factory.MethodInfo.GetParameters()
                .Select((p, i) => (Name: p.Name!, Index: i, p.ParameterType))
                .Where(p => p.ParameterType == typeof(string) || p.ParameterType == typeof(GenerationRequest))
                .ToArray();
            if (texts.Length == 0)
            {
                return next;
            }

            return async context =>
            {
                var limit = context.HttpContext.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.MaxTextLength;
                var route = (context.HttpContext.GetEndpoint() as RouteEndpoint)?.RoutePattern;
                foreach (var (name, index, _) in texts)
                {
                    var what = route?.GetParameter(name) is null ? $"Query parameter '{name}'" : $"Route value '{name}'";
                    var refusal = context.Arguments[index] switch
                    {
                        string text => TooLong(what, text, limit),
                        GenerationRequest request => TooLong("Field 'prompt'", request.Prompt, limit) ?? TooLong("Field 'stop'", request.Stop, limit),
                        _ => null,
                    };
                    if (refusal is not null)
                    {
                        return Results.BadRequest(new ApiError(refusal));
                    }
                }

                return await next(context);
            };
        });
        return builder;
    }

    /// <summary>
    /// Bounds a read by <see cref="ApiOptions.ReadTimeoutSeconds"/>: a grain on a silo that is dying but not yet declared
    /// dead does not answer, and a status poll must not hang for Orleans' 30 s response timeout. The call itself goes on
    /// and its late answer is dropped.
    /// </summary>
    public static TBuilder WithReadTimeout<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddEndpointFilter(async (context, next) =>
        {
            var options = context.HttpContext.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value;
            var timeout = TimeSpan.FromSeconds(options.ReadTimeoutSeconds);
            var read = next(context).AsTask();
            var finished = await Task.WhenAny(read, Task.Delay(timeout, context.HttpContext.RequestAborted));
            if (finished == read)
            {
                return await read;
            }

            _ = read.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default); // observed: a late failure is expected
            return Unavailable(context.HttpContext, options,
                $"The cluster did not answer within {options.ReadTimeoutSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s: " +
                "a silo may have been lost and the cluster is recovering.");
        });
        return builder;
    }

    /// <summary>503 with <c>Retry-After</c>, the message ending with when to ask again.</summary>
    internal static IResult Unavailable(HttpContext http, ApiOptions options, string message)
    {
        http.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return Results.Json(new ApiError($"{message} Retry after {options.RetryAfterSeconds} s."), statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private static string? TooLong(string what, string? text, int limit) =>
        text is { Length: var length } && length > limit
            ? $"{what} is {length} characters; the limit is {limit} (Api:MaxTextLength)."
            : null;
}

/// <summary>
/// For <c>/api</c> requests: refuses a body over <see cref="ApiOptions.MaxRequestBytes"/> (413), turns binding failures into
/// 400s that name the field, Orleans' "silo unavailable" and timeouts into 503s, anything else into a 500, and gives every
/// refusal without a body a <c>{"error": "..."}</c>. Other paths (the page, the dashboard) pass through untouched.
/// </summary>
public sealed partial class ApiAdmissionMiddleware(RequestDelegate next, IOptions<ApiOptions> options, IOptions<JsonOptions> json, ILogger<ApiAdmissionMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (!http.Request.Path.StartsWithSegments(ApiAdmissionExtensions.ApiPrefix, StringComparison.OrdinalIgnoreCase))
        {
            await PassThroughAsync(http);
            return;
        }

        var settings = options.Value;
        if (http.Request.ContentLength > settings.MaxRequestBytes)
        {
            await WriteAsync(http, StatusCodes.Status413PayloadTooLarge, TooLarge(settings, http.Request.ContentLength.Value));
            return;
        }

        // A body without a length (chunked) is cut by Kestrel at the limit while it is read.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = settings.MaxRequestBytes;
        }

        try
        {
            await next(http);
        }
        catch (BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            var message = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge(settings, null)
                : RequestErrors.Describe(e, http.GetEndpoint(), json.Value.SerializerOptions, http.Request.ContentType);
            await WriteAsync(http, e.StatusCode, message);
            return;
        }
        catch (Exception e) when (IsUnavailable(e) && !http.Response.HasStarted && !http.RequestAborted.IsCancellationRequested)
        {
            LogUnavailable(logger, http.Request.Method, http.Request.Path, e.GetType().Name, e.Message.Split('\n', 2)[0].Trim());
            await ApiAdmissionExtensions.Unavailable(http, settings,
                $"The cluster could not answer ({e.GetType().Name}): a silo may have been lost and the cluster is recovering.").ExecuteAsync(http);
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException && !http.Response.HasStarted)
        {
            LogFailed(logger, e, http.Request.Method, http.Request.Path, http.TraceIdentifier);
            await WriteAsync(http, StatusCodes.Status500InternalServerError,
                $"{http.Request.Method} {http.Request.Path} failed unexpectedly ({e.GetType().Name}); the silo's log has the details under request {http.TraceIdentifier}.");
            return;
        }

        // Refusals the framework answers without a body: a chunked body over the limit (413), a wrong content type (415),
        // no such endpoint (404) or method (405).
        if (!http.Response.HasStarted && http.Response.StatusCode >= 400 && http.Response.ContentType is null)
        {
            await WriteAsync(http, http.Response.StatusCode, http.Response.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => TooLarge(settings, null),
                StatusCodes.Status415UnsupportedMediaType => $"Send the body as JSON (Content-Type: application/json); got '{http.Request.ContentType}'.",
                StatusCodes.Status404NotFound => $"No API endpoint at {http.Request.Method} {http.Request.Path}.",
                StatusCodes.Status405MethodNotAllowed => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
                var status => $"The request was refused with status {status}.",
            });
        }
    }

    /// <summary>Outside the API a binding failure keeps the framework's plain status code, as it had before binding threw.</summary>
    private async Task PassThroughAsync(HttpContext http)
    {
        try
        {
            await next(http);
        }
        catch (BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            http.Response.StatusCode = e.StatusCode;
        }
    }

    /// <summary>Orleans could not reach the grain (its silo is unavailable or being declared dead) or the call timed out.</summary>
    private static bool IsUnavailable(Exception e) => e is OrleansException or TimeoutException
        || (e is AggregateException aggregate && aggregate.InnerExceptions.All(IsUnavailable));

    private static string TooLarge(ApiOptions settings, long? length) =>
        length is { } n
            ? $"The request body is {n} bytes; the limit is {settings.MaxRequestBytes} bytes (Api:MaxRequestBytes)."
            : $"The request body is over the limit of {settings.MaxRequestBytes} bytes (Api:MaxRequestBytes).";

    private static Task WriteAsync(HttpContext http, int status, string message)
    {
        http.Response.Clear();
        return Results.Json(new ApiError(message), statusCode: status).ExecuteAsync(http);
    }

    // Information, not Warning: during failover every poll of every page lands here for ~10 s, and the caller was told.
    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path}: the cluster could not answer ({Exception}: {Reason}); answered 503")]
    private static partial void LogUnavailable(ILogger logger, string method, PathString path, string exception, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed (request {TraceId}); answered 500")]
    private static partial void LogFailed(ILogger logger, Exception exception, string method, PathString path, string traceId);
}
