using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// Who may change the cluster through the HTTP API. On loopback only (the default, <c>http://127.0.0.1:5080</c>) the
/// API is open, as before. Once the web port listens beyond loopback, or whenever <c>Api:Token</c> is set, every
/// request on <c>/api</c> that is not a read (any method but GET, HEAD, OPTIONS: starting, stopping and rolling back
/// runs, publishing versions, creating ranking tasks and submitting rankings, generation) needs
/// <c>Authorization: Bearer &lt;Api:Token&gt;</c>, else 401 with <c>{"error": "..."}</c>. A silo that would listen
/// beyond loopback without a token refuses to start: open control on a reachable port is never the fallback.
/// </summary>
public static class ApiAccessExtensions
{
    /// <summary>
    /// A token shorter than this is refused at start: 16 random characters are ~95 bits from a base64 alphabet, far
    /// beyond guessing at the rate one silo answers.
    /// </summary>
    public const int MinTokenLength = 16;

    /// <summary>
    /// Decides the web port's exposure from configuration, checks <c>Api:Token</c> against it and registers both.
    /// </summary>
    /// <exception cref="InvalidOperationException">Beyond loopback without a token, or a token that is too short.</exception>
    public static WebApplicationBuilder AddApiAccess(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var exposure = WebExposure.From(builder.Configuration);
        var token = builder.Configuration[$"{ApiOptions.Section}:Token"];
        if (string.IsNullOrWhiteSpace(token))
        {
            if (exposure.BeyondLoopback)
            {
                throw new InvalidOperationException(
                    $"The silo would listen beyond loopback ({string.Join(", ", exposure.Urls)}) without Api:Token: anyone who reaches that " +
                    "port could start, stop and publish runs. Set Api:Token (environment Api__Token, e.g. from a Kubernetes Secret) " +
                    "to a random string of at least 16 characters, or listen on 127.0.0.1 only (Urls).");
            }
        }
        else if (token.Trim().Length < MinTokenLength || token.Any(char.IsWhiteSpace))
        {
            throw new InvalidOperationException(
                $"Api:Token must be at least {MinTokenLength} characters without spaces (e.g. `openssl rand -base64 32`); got {token.Trim().Length}.");
        }

        builder.Services.AddSingleton(exposure);
        return builder;
    }

    /// <summary>The token check, before the API's own admission: an unauthorised body is never read.</summary>
    public static WebApplication UseApiAccess(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<ApiAccessMiddleware>();
        return app;
    }
}

/// <summary>
/// Refuses API writes without the right bearer token where <see cref="ApiAccessExtensions"/> says one is needed. Besides
/// the configured addresses it looks at those the server really bound (endpoints added in code are not in
/// configuration), and if those reach beyond loopback with no token configured it refuses every write.
/// </summary>
public sealed class ApiAccessMiddleware(RequestDelegate next, WebExposure exposure, IOptions<ApiOptions> options, IServer server)
{
    private readonly byte[]? _token = string.IsNullOrWhiteSpace(options.Value.Token) ? null : Encoding.UTF8.GetBytes(options.Value.Token.Trim());
    private bool _boundBeyondLoopback;

    public Task InvokeAsync(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (!http.Request.Path.StartsWithSegments(ApiAdmissionExtensions.ApiPrefix, StringComparison.OrdinalIgnoreCase)
            || HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || HttpMethods.IsOptions(http.Request.Method))
        {
            return next(http);
        }

        if (_token is null)
        {
            return exposure.BeyondLoopback || BoundBeyondLoopback()
                ? RefuseAsync(http, "This silo listens beyond loopback but has no Api:Token, so the API refuses every change; set Api:Token.")
                : next(http);
        }

        var header = http.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return RefuseAsync(http,
                $"{http.Request.Method} {http.Request.Path} changes the cluster and needs the API token: send 'Authorization: Bearer <token>' (the silo's Api:Token).");
        }

        var sent = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(sent, _token)
            ? next(http)
            : RefuseAsync(http, "The API token in 'Authorization: Bearer ...' is not this silo's Api:Token.");
    }

    /// <summary>Whether the server bound an address beyond loopback; once true it stays true.</summary>
    private bool BoundBeyondLoopback()
    {
        if (!_boundBeyondLoopback && server.Features.Get<IServerAddressesFeature>() is { } addresses)
        {
            _boundBeyondLoopback = addresses.Addresses.Any(address => !WebExposure.IsLoopback(address));
        }

        return _boundBeyondLoopback;
    }

    private static Task RefuseAsync(HttpContext http, string message)
    {
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Json(new ApiError(message), statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(http);
    }
}
